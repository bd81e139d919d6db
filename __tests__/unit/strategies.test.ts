/**
 * The order of the strategies' failure paths across hosts, on fake hosts (test/fake-host.ts) that
 * record every command's step into one log: rolling rollback across batches, a rolling deploy
 * behind a load balancer whose switch fails, a rollback to a warm slot, and the watch after each
 * batch. The e2e suite runs the same paths on real hosts;
 * these say exactly which steps run on which host, and in which order.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { DeployContext } from '../../src/deploy/context.js'
import { HostDeploy } from '../../src/deploy/host-deploy.js'
import { HostSession } from '../../src/deploy/host-session.js'
import { Journal } from '../../src/deploy/journal.js'
import { LoadBalancer } from '../../src/deploy/load-balancer.js'
import type { Settings } from '../../src/inputs/settings.js'
import { HostLogs } from '../../src/report/log.js'
import { slotPort } from '../../src/deploy/plan.js'
import type { ReleaseArchive } from '../../src/release/index.js'
import type { HostState } from '../../src/remote/state.js'
import { SWITCH_FAILED } from '../../src/remote/commands/switch.js'
import { rollback } from '../../src/strategies/rollback.js'
import { rolling } from '../../src/strategies/rolling.js'
import {
  FINISHED,
  FakeHost,
  STARTED_HEALTHY,
  SWITCH_STEP,
  httpAnswer,
  nginxSendsTo,
  preparedOutput,
  type FakeRule,
} from '../../test/fake-host.js'
import { testSettings } from '../../test/settings.js'

const KNOWN_HOSTS = ['web1', 'web2', 'web3', 'lb1']
  .map((h) => `${h} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample`)
  .join('\n')

function settingsWith(inputs: Record<string, string>): Settings {
  return testSettings({ strategy: 'rolling', 'known-hosts': KNOWN_HOSTS, ...inputs })
}

const SWITCH = SWITCH_STEP
const LB_RELOAD = 'load balancer: reload nginx'
const LB_RESTORE = 'load balancer: restore'

const ARCHIVE: ReleaseArchive = {
  path: '/nonexistent/release.tar.gz',
  sha256: 'b'.repeat(64),
  bytes: 1024,
  source: 'directory release',
}

/** 1.0.0 live on the blue slot. */
function liveBlue(settings: Settings): HostState {
  const port = slotPort(settings, 'blue')
  return {
    schema: 1,
    liveSlot: 'blue',
    slots: {
      blue: { version: '1.0.0', port, pid: 100, startedAt: '2026-01-01T00:00:00.000Z' },
      green: null,
    },
    history: [
      {
        version: '1.0.0',
        sha256: 'a'.repeat(64),
        slot: 'blue',
        deployedAt: '2026-01-01T00:00:00Z',
      },
    ],
  }
}

/** The switch script (not the other commands of step `switch`). */
const SCRIPT = /echo "STEP install"/

/** The switch script's report of a failed nginx -t (the file from before put back). */
const TEST_FAILED = {
  exitCode: SWITCH_FAILED,
  stdout: 'CLIENT curl\nSTEP install\nSTEP test\nFAILED test 1\nRESTORED\n',
  stderr: 'nginx: configuration file test failed',
}

/** Every command of every fake host, as `<host>: <step>`, in the order they were given. */
type FleetLog = string[]

/** Records the host's commands into `log` too (as they are recorded on the host). */
function logInto(log: FleetLog, host: FakeHost): FakeHost {
  const push = host.commands.push.bind(host.commands)
  host.commands.push = (...items) => {
    items.forEach((c) => log.push(`${host.name}: ${c.step}`))
    return push(...items)
  }
  return host
}

/**
 * An app host with 1.0.0 live on blue, whose slots answer their health checks and whose nginx
 * sends requests where the upstream file it last reloaded says; `rules` first.
 */
function appHost(settings: Settings, log: FleetLog, name: string, rules: FakeRule[] = []) {
  const host = new FakeHost(name, [
    ...rules,
    {
      match: 'lock',
      stdout: preparedOutput(settings, { files: [JSON.stringify(liveBlue(settings))] }),
      times: 1,
    },
    { match: /^start (blue|green)$/, stdout: STARTED_HEALTHY },
    { match: 'finish', stdout: FINISHED },
  ])
  // The address the inputs give, as a real connection has it (the load balancer matches on it).
  Object.assign(host, { address: settings.hosts.find((h) => h.label === name) })
  host.http = (port) =>
    port === settings.nginx.verifyPort
      ? httpAnswer(200, '', `127.0.0.1:${nginxSendsTo(host, slotPort(settings, 'blue'))}`)
      : httpAnswer(200, 'ok')
  return logInto(log, host)
}

/** HostDeploys of 2.0.0 on `hosts`, their state read (the lock phase of a run). */
async function loaded(settings: Settings, hosts: FakeHost[]): Promise<HostDeploy[]> {
  const journal = new Journal()
  return Promise.all(
    hosts.map((host) =>
      HostDeploy.lockAndLoad(new HostSession(host, settings, journal, '2.0.0'), 'a test'),
    ),
  )
}

function contextFor(
  settings: Settings,
  hosts: HostDeploy[],
  loadBalancer?: LoadBalancer,
): DeployContext {
  return {
    settings,
    version: '2.0.0',
    archive: ARCHIVE,
    hosts,
    workerHosts: [],
    loadBalancer,
    phases: [],
    canarySteps: [],
    watches: [],
    logs: new HostLogs(),
  }
}

/** The entries of `log` from `host`, as step names, from the first one that is `from` on. */
function stepsOf(log: FleetLog, host: string, from?: string): string[] {
  const steps = log.filter((e) => e.startsWith(`${host}: `)).map((e) => e.slice(host.length + 2))
  return from === undefined ? steps : steps.slice(steps.indexOf(from))
}

beforeEach(() => {
  // The log's lines (core.info, warnings) are not what these tests are about.
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
})

afterEach(() => {
  vi.restoreAllMocks()
})

describe('rolling: a failed batch 2 on fake hosts', () => {
  const settings = settingsWith({ hosts: 'web1,web2', 'batch-size': '1' })
  const GREEN = slotPort(settings, 'green')
  const BLUE = slotPort(settings, 'blue')

  it('a new slot that fails to start in batch 2 switches batch 1 back, draining before stopping', async () => {
    const log: FleetLog = []
    const web1 = appHost(settings, log, 'web1')
    const web2 = appHost(settings, log, 'web2', [
      { match: 'start green', exitCode: 1, stderr: 'node: cannot find module' },
    ])
    const hosts = await loaded(settings, [web1, web2])

    const failure = rolling(contextFor(settings, hosts))

    await expect(failure).rejects.toThrow(
      /\[web2\] start green: command exited 1[\s\S]*The 1 host\(s\) that had switched were rolled back \(on-failure: rollback\)\. Hosts now serve:\n {2}web1: 1\.0\.0 \(reverted\)\n {2}web2: 1\.0\.0 \(failed\)/,
    )
    // Batch 1 switched (web1 on green), then web2's start failed and its slot was stopped; only
    // then did web1 go back: nginx first, then state.json and current, then drain and stop.
    const afterBatch1 = log.slice(log.indexOf(`web1: ${SWITCH}`))
    expect(afterBatch1).toEqual([
      `web1: ${SWITCH}`,
      'web2: start green',
      'web2: stop green',
      `web1: ${SWITCH}`,
      'web1: write state',
      'web1: revert current',
      'web1: drain',
      'web1: stop green',
    ])
    expect(nginxSendsTo(web1, slotPort(settings, 'blue'))).toBe(BLUE)
    expect(stepsOf(log, 'web2')).not.toContain(SWITCH)
    expect(hosts.map((h) => h.report.outcome)).toEqual(['reverted', 'failed'])
  })

  it('a failed nginx -t in batch 2 restores its upstream and stops its slot before batch 1 goes back', async () => {
    const log: FleetLog = []
    const web1 = appHost(settings, log, 'web1')
    const web2 = appHost(settings, log, 'web2', [{ match: SCRIPT, ...TEST_FAILED }])
    const hosts = await loaded(settings, [web1, web2])

    await expect(rolling(contextFor(settings, hosts))).rejects.toThrow(
      /\[web2\] switch: install upstream and test nginx: command exited 1[\s\S]*rolled back \(on-failure: rollback\)/,
    )
    // web2's switch script put its file back itself: nothing more to restore there.
    const afterBatch1 = log.slice(log.indexOf(`web1: ${SWITCH}`))
    expect(afterBatch1).toEqual([
      `web1: ${SWITCH}`,
      // start and health in one command
      'web2: start green',
      `web2: ${SWITCH}`,
      'web2: stop green',
      `web1: ${SWITCH}`,
      'web1: write state',
      'web1: revert current',
      'web1: drain',
      'web1: stop green',
    ])
    expect(stepsOf(log, 'web2', SWITCH)).toEqual([SWITCH, 'stop green'])
    expect(stepsOf(log, 'web1', SWITCH).slice(1)).toEqual([
      SWITCH,
      'write state',
      'revert current',
      'drain',
      'stop green',
    ])
    // The drain waits on the green slot's port, the one nginx was moved off.
    expect(web1.commands.filter((c) => c.step === 'drain').at(-1)?.text).toMatch(
      new RegExp(`' sh ${GREEN} `),
    )
  })

  it('with on-failure: stop, batch 1 stays on the new version and keeps its old slot', async () => {
    const stopSettings = settingsWith({
      hosts: 'web1,web2',
      'batch-size': '1',
      'on-failure': 'stop',
    })
    const log: FleetLog = []
    const web1 = appHost(stopSettings, log, 'web1')
    const web2 = appHost(stopSettings, log, 'web2', [{ match: 'start green', exitCode: 1 }])
    const hosts = await loaded(stopSettings, [web1, web2])

    await expect(rolling(contextFor(stopSettings, hosts))).rejects.toThrow(
      /on-failure is stop: the fleet is left on mixed versions\. Hosts now serve:\n {2}web1: 2\.0\.0 \(deployed\)\n {2}web2: 1\.0\.0 \(failed\)/,
    )
    expect(stepsOf(log, 'web1', SWITCH)).toEqual([SWITCH])
    expect(stepsOf(log, 'web2', 'start green')).toEqual(['start green', 'stop green'])
    expect(nginxSendsTo(web1, slotPort(stopSettings, 'blue'))).toBe(GREEN)
  })
})

describe('rolling behind a load balancer: a failed switch there', () => {
  const settings = settingsWith({
    hosts: 'web1,web2,web3',
    'batch-size': '1',
    'load-balancer': 'lb1',
  })
  const TAKE_OUT = 'load balancer: take web1 out'
  const PUT_BACK = 'load balancer: put all back'

  /** The balancer; its nginx answers through `upstream` (default: web2, never marked down). */
  function balancer(
    log: FleetLog,
    rules: FakeRule[],
    upstream: (host: FakeHost) => string = () => 'web2:80',
  ) {
    const host = logInto(log, new FakeHost('lb1', rules))
    Object.assign(host, { address: settings.rolling.loadBalancer })
    host.http = () => httpAnswer(200, '', upstream(host))
    return { host, lb: new LoadBalancer(host, settings, settings.hosts) }
  }

  it('takes the lock and reads its upstream file in one command, and refuses one edited by hand', async () => {
    const locked = (content: string) => `LOCKED\n${content}\0READY\0`
    const fresh = balancer([], [{ match: 'lock', stdout: locked('') }])
    await fresh.lb.prepare('run 42')
    expect(fresh.host.commands.map((c) => `${c.kind} ${c.step}`)).toEqual(['openExec lock'])
    await fresh.lb.release()

    const edited = balancer([], [{ match: 'lock', stdout: locked('upstream x { server a:1; }\n') }])
    await expect(edited.lb.prepare('run 42')).rejects.toThrow(
      /^\[lb1\] check lb upstream: \S+ was edited by hand or not written by this action; nothing was changed\./,
    )
    expect(edited.host.steps()).toEqual(['lock'])
    await edited.lb.release()
  })

  it('a failed nginx -t when taking batch 1 out restores the file and stops the new slot, then puts all back', async () => {
    const log: FleetLog = []
    const { host: lbHost, lb } = balancer(log, [{ match: TAKE_OUT, ...TEST_FAILED }])
    const apps = ['web1', 'web2', 'web3'].map((name) => appHost(settings, log, name))
    const hosts = await loaded(settings, apps)

    await expect(rolling(contextFor(settings, hosts, lb))).rejects.toThrow(
      /^\[lb1\] load balancer: take web1 out: command exited 1[\s\S]*\nNo batch had switched: every host serves its previous version\.$/,
    )
    // No reload of the refused file (the script put the one before back); web1's new slot stops
    // (nginx never sent it traffic: no drain) before the balancer is asked to put every host back.
    expect(log.slice(log.indexOf(`lb1: ${TAKE_OUT}`))).toEqual([
      `lb1: ${TAKE_OUT}`,
      'web1: stop green',
      `lb1: ${PUT_BACK}`,
    ])
    expect(stepsOf(log, 'web1')).not.toContain(SWITCH)
    // Batches 2 and 3 never started: their hosts only got the release.
    for (const name of ['web2', 'web3']) {
      expect(stepsOf(log, name).filter((s) => /^(start|stop)/.test(s))).toEqual([])
    }
    expect(lbHost.steps()).not.toContain('drain')
    expect(hosts.map((h) => h.report.liveVersion)).toEqual(['1.0.0', '1.0.0', '1.0.0'])
  })

  it('a balancer that still sends requests to batch 1 after the reload is restored and reloaded before the new slot stops', async () => {
    const log: FleetLog = []
    // The verify gives up after its timeout: let that time pass at once.
    let skewMs = 0
    const now = Date.now.bind(Date)
    vi.spyOn(Date, 'now').mockImplementation(() => now() + skewMs)
    // Until the put back, its nginx keeps sending requests to web1, whatever it reloads.
    const { host: lbHost, lb } = balancer(log, [], (host) => {
      if (host.steps().includes(PUT_BACK)) return 'web2:80'
      skewMs += 4000
      return 'web1:80'
    })
    const apps = ['web1', 'web2', 'web3'].map((name) => appHost(settings, log, name))
    const hosts = await loaded(settings, apps)

    await expect(rolling(contextFor(settings, hosts, lb))).rejects.toThrow(
      /^\[lb1\] switch: verify: .*a request still went to web1:80, which is marked down[\s\S]*No batch had switched/,
    )
    expect(log.slice(log.indexOf(`lb1: ${TAKE_OUT}`))).toEqual([
      `lb1: ${TAKE_OUT}`,
      `lb1: ${LB_RESTORE}`,
      `lb1: ${LB_RELOAD}`,
      'web1: stop green',
      `lb1: ${PUT_BACK}`,
    ])
    expect(lbHost.requests.length).toBeGreaterThan(0)
    expect(stepsOf(log, 'web1')).not.toContain(SWITCH)
  })

  it('a failed put back after batch 1 switched says so, and on-failure: rollback switches batch 1 back', async () => {
    const log: FleetLog = []
    const { lb } = balancer(log, [{ match: PUT_BACK, ...TEST_FAILED }])
    const apps = ['web1', 'web2', 'web3'].map((name) => appHost(settings, log, name))
    const hosts = await loaded(settings, apps)

    await expect(rolling(contextFor(settings, hosts, lb))).rejects.toThrow(
      /^\[lb1\] load balancer: put all back: command exited 1[\s\S]*\nThe 1 host\(s\) that had switched were rolled back \(on-failure: rollback\)\. Hosts now serve:\n {2}web1: 1\.0\.0 \(reverted\)/,
    )
    expect(log.slice(log.indexOf(`lb1: ${PUT_BACK}`))).toEqual([
      `lb1: ${PUT_BACK}`,
      `web1: ${SWITCH}`,
      'web1: write state',
      'web1: revert current',
      'web1: drain',
      'web1: stop green',
    ])
    expect(hosts.map((h) => h.report.liveVersion)).toEqual(['1.0.0', '1.0.0', '1.0.0'])
  })
})

describe('rollback: whether the warm slot runs comes with the state read', () => {
  const settings = testSettings({
    hosts: 'web1',
    'known-hosts': KNOWN_HOSTS,
    rollback: 'true',
    'process-manager': 'builtin',
  })
  const BLUE = slotPort(settings, 'blue')
  const GREEN = slotPort(settings, 'green')
  /** 2.0.0 live on green; 1.0.0 kept warm on blue (keep-previous: warm). */
  const warm: HostState = {
    schema: 1,
    liveSlot: 'green',
    slots: {
      blue: { version: '1.0.0', port: BLUE, pid: 100, startedAt: '2026-01-01T00:00:00.000Z' },
      green: { version: '2.0.0', port: GREEN, pid: 200, startedAt: '2026-01-02T00:00:00.000Z' },
    },
    history: ['2.0.0', '1.0.0'].map((version, i) => ({
      version,
      sha256: 'a'.repeat(64),
      slot: i === 0 ? ('green' as const) : ('blue' as const),
      deployedAt: '2026-01-01T00:00:00Z',
    })),
  }

  /** The host, after a rollback whose prepare block found blue running or not. */
  async function rolledBack(blueRuns: boolean): Promise<FakeHost> {
    const host = new FakeHost('web1', [
      {
        match: 'lock',
        // Per slot: restarts of blue and green, then whether blue and green run.
        stdout: preparedOutput(settings, {
          files: [JSON.stringify(warm)],
          releases: ['1.0.0', '2.0.0'],
          extraExitCodes: [0, 0, blueRuns ? 0 : 1, 0],
        }),
        times: 1,
      },
      { match: /^start (blue|green)$/, stdout: STARTED_HEALTHY },
      { match: 'finish', stdout: FINISHED },
    ])
    host.http = (port) =>
      port === settings.nginx.verifyPort
        ? httpAnswer(200, '', `127.0.0.1:${nginxSendsTo(host, GREEN)}`)
        : httpAnswer(200, '1.0.0')
    Object.assign(host, { address: settings.hosts[0] })
    const journal = new Journal()
    const h = await HostDeploy.lockAndLoad(new HostSession(host, settings, journal, ''), 'a test')
    expect(await rollback({ ...contextFor(settings, [h]), version: '' })).toBe('rolled-back')
    expect(nginxSendsTo(host, GREEN)).toBe(BLUE)
    return host
  }

  it('a warm slot that runs: no start and no other command before the switch', async () => {
    const steps = (await rolledBack(true)).commands.map((c) => c.step)
    expect(steps).toEqual(['lock', SWITCH, 'finish'])
  })

  it('a warm slot that no longer runs: started from releases/ before the switch', async () => {
    const steps = (await rolledBack(false)).commands.map((c) => c.step)
    expect(steps).toEqual(['lock', 'start blue', SWITCH, 'finish'])
  })
})

describe('rolling with watch on fake hosts', () => {
  const settings = settingsWith({
    hosts: 'web1,web2',
    'batch-size': '1',
    watch: '300ms',
    'health-interval': '100ms',
  })
  const GREEN = slotPort(settings, 'green')
  const BLUE = slotPort(settings, 'blue')
  /** The evidence log: where it ends at the start of a watch, then what each read finds. */
  const accessLog = (errors: number): FakeRule[] => [
    { match: 'read access log', stdout: 'size 100\n', times: 1 },
    { match: 'read access log', stdout: `size 200\ncount 127.0.0.1:${GREEN} 30 ${errors}\n` },
  ]

  it('watches each batch before recording its switch and before the next batch starts', async () => {
    const log: FleetLog = []
    const web1 = appHost(settings, log, 'web1', accessLog(0))
    const web2 = appHost(settings, log, 'web2', accessLog(0))
    const hosts = await loaded(settings, [web1, web2])
    const ctx = contextFor(settings, hosts)

    await expect(rolling(ctx)).resolves.toBe('deployed')

    const web1Steps = stepsOf(log, 'web1', SWITCH)
    expect(web1Steps.slice(0, 2)).toEqual([SWITCH, 'read access log'])
    // web1's switch is recorded only after its watch read the log, and before web2 starts.
    expect(log.indexOf('web1: record')).toBeGreaterThan(log.lastIndexOf('web1: read access log'))
    expect(log.indexOf('web2: start green')).toBeGreaterThan(log.indexOf('web1: record'))
    expect(ctx.watches.map((w) => [w.label, w.verdict])).toEqual([
      ['batch 1', 'passed'],
      ['batch 2', 'passed'],
    ])
    expect(hosts.map((h) => h.state.liveSlot)).toEqual(['green', 'green'])
  })

  it('a breach in batch 1 switches it back at once, never recorded, and batch 2 never starts', async () => {
    const log: FleetLog = []
    const web1 = appHost(settings, log, 'web1', accessLog(15))
    const web2 = appHost(settings, log, 'web2', accessLog(0))
    const hosts = await loaded(settings, [web1, web2])
    const ctx = contextFor(settings, hosts)

    await expect(rolling(ctx)).rejects.toThrow(
      /Watch breached: the new version answered 5xx to 50% of 30 requests \(15\), above watch-max-error-rate 5%/,
    )
    // Where the log ends, then one health check and read: above the limit, back at once.
    expect(stepsOf(log, 'web1', SWITCH)).toEqual([
      SWITCH,
      'read access log',
      'health',
      'read access log',
      SWITCH,
      'drain',
      'stop green',
    ])
    expect(stepsOf(log, 'web1')).not.toContain('record')
    expect(stepsOf(log, 'web2')).not.toContain('start green')
    expect(nginxSendsTo(web1, BLUE)).toBe(BLUE)
    expect(hosts.map((h) => h.report.outcome)).toEqual(['reverted', 'failed'])
    expect(ctx.watches).toMatchObject([
      { label: 'batch 1', verdict: 'aborted', counts: { requests: 30, errors: 15 } },
    ])
  })
})
