/**
 * The order of HostDeploy's failure paths, against a fake host (test/fake-host.ts) that records
 * every command's step: what is restored, reloaded, drained and stopped, and in which order.
 * The e2e suite checks the same paths against real hosts; these say exactly which steps run.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { HostDeploy } from '../../src/deploy/host-deploy.js'
import { HostSession } from '../../src/deploy/host-session.js'
import { Journal } from '../../src/deploy/journal.js'
import { finish, switchTogether } from '../../src/deploy/steps.js'
import type { DeployContext } from '../../src/deploy/context.js'
import { RemoteCommandError } from '../../src/common/errors.js'
import { HostLogs } from '../../src/report/log.js'
import { LOCK_TIMED_OUT } from '../../src/remote/commands/lock.js'
import { SLOT_EXITED } from '../../src/remote/commands/slot.js'
import { HEALTH_NO_CLIENT } from '../../src/remote/commands/health-loop.js'
import { SWITCH_FAILED } from '../../src/remote/commands/switch.js'
import { slotPort } from '../../src/deploy/plan.js'
import { repair } from '../../src/post/repair.js'
import { planRollback, startUnlessWarm } from '../../src/strategies/rollback.js'
import { deployInPlace } from '../../src/strategies/reload.js'
import type { HostState } from '../../src/remote/state.js'
import type { ReleaseArchive } from '../../src/release/index.js'
import type { Settings } from '../../src/inputs/settings.js'
import {
  FINISHED,
  FakeHost,
  INSTALL_STEP,
  STARTED_HEALTHY,
  RELOAD_STEP,
  SWITCH_STEP,
  httpAnswer,
  nginxSendsTo,
  preparedOutput,
  type FakeRule,
  type PreparedAnswer,
} from '../../test/fake-host.js'
import { testSettings } from '../../test/settings.js'

const settings = testSettings({
  hosts: 'web1',
  'known-hosts': 'web1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample',
})

const BLUE = slotPort(settings, 'blue')
const GREEN = slotPort(settings, 'green')

/** 1.0.0 live on the blue slot. */
const LIVE_BLUE: HostState = {
  schema: 1,
  liveSlot: 'blue',
  slots: {
    blue: { version: '1.0.0', port: BLUE, pid: 100, startedAt: '2026-01-01T00:00:00.000Z' },
    green: null,
  },
  history: [
    { version: '1.0.0', sha256: 'a'.repeat(64), slot: 'blue', deployedAt: '2026-01-01T00:00:00Z' },
  ],
}

const INSTALL = INSTALL_STEP
const RELOAD = RELOAD_STEP
const SWITCH = SWITCH_STEP
const RESTORE = 'switch: restore upstream'

/**
 * A host with `state` in state.json, no upstream file yet, whose slots answer their health checks
 * and whose nginx sends requests to the first server of the upstream file it last reloaded (the
 * live slot before any reload).
 */
function hostWith(state: HostState, rules: FakeRule[] = []): FakeHost {
  const host = new FakeHost('web1', [
    ...rules,
    {
      match: 'lock',
      stdout: preparedOutput(settings, { files: [JSON.stringify(state)] }),
      times: 1,
    },
    { match: /^start (blue|green)$/, stdout: STARTED_HEALTHY },
    { match: 'finish', stdout: FINISHED },
  ])
  host.http = (port) =>
    port === settings.nginx.verifyPort
      ? httpAnswer(
          200,
          '',
          `127.0.0.1:${nginxSendsTo(host, slotPort(settings, state.liveSlot ?? 'blue'))}`,
        )
      : httpAnswer(200, 'ok')
  return host
}

/** The steps recorded since `mark` (an index into the host's commands). */
function stepsSince(host: FakeHost, mark: number): string[] {
  return host.steps().slice(mark)
}

function contextFor(hosts: HostDeploy[]): DeployContext {
  return {
    settings,
    version: '2.0.0',
    hosts,
    workerHosts: [],
    phases: [],
    canarySteps: [],
    watches: [],
    logs: new HostLogs(),
  }
}

/** HostDeploy of 2.0.0 on `host`, state read and the green slot started. */
async function startedDeploy(host: FakeHost, journal = new Journal()): Promise<HostDeploy> {
  const deploy = await HostDeploy.lockAndLoad(
    new HostSession(host, settings, journal, '2.0.0'),
    'a test',
  )
  await deploy.startNewSlot()
  return deploy
}

beforeEach(() => {
  // The log's lines (core.info) are not what these tests are about.
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
})

afterEach(() => {
  vi.restoreAllMocks()
})

/** The switch script's report of a failure at `step` after `before` (what it undid after). */
function switchFailed(before: string[], step: string, exit: string, after: string[]): string {
  return [
    'CLIENT curl',
    ...before.map((s) => `STEP ${s}`),
    `STEP ${step}`,
    `FAILED ${step} ${exit}`,
    ...after,
    '',
  ].join('\n')
}

/** The switch script (not the other commands of step `switch`, such as the crash check). */
const SCRIPT = /echo "STEP install"/

const VERIFY_FAILED =
  'after the reload, nginx did not send requests where expected within 10s (nginx answered 200 from 127.0.0.1:3001, expected 127.0.0.1:3002)'

describe('the all-or-nothing switch on a fake host', () => {
  it('one host: recheck, install, test, reload, verify and record in one exec', async () => {
    const journal = new Journal()
    const host = hostWith(LIVE_BLUE)
    const deploy = await startedDeploy(host, journal)
    const mark = host.commands.length

    await switchTogether(contextFor([deploy]), [deploy])

    expect(stepsSince(host, mark)).toEqual([SWITCH])
    const sw = host.commands[mark]
    expect(sw?.text).toContain(`server 127.0.0.1:${GREEN}`)
    // state.json as it will be, and current, are arguments of the same exec.
    expect(sw?.text).toContain('"liveSlot": "green"')
    expect(sw?.text).toContain(' /srv/shop/current releases/2.0.0 ')
    expect(deploy.report.outcome).toBe('deployed')
    expect(deploy.state.liveSlot).toBe('green')
    expect(journal.text()).toBe('')
  })

  it('a failed nginx -t: the script restored the upstream, no reload; the new slot stops without a drain', async () => {
    const journal = new Journal()
    const host = hostWith(LIVE_BLUE).on({
      match: SWITCH,
      exitCode: SWITCH_FAILED,
      stdout: switchFailed(['recheck', 'install'], 'test', '1', ['RESTORED']),
      stderr: 'nginx: [emerg] unknown directive "sever"\nnginx: configuration file test failed',
    })
    const deploy = await startedDeploy(host, journal)
    const mark = host.commands.length

    const failure = switchTogether(contextFor([deploy]), [deploy])

    await expect(failure).rejects.toThrow(RemoteCommandError)
    await expect(failure).rejects.toThrow(
      `[web1] ${INSTALL}: command exited 1:\nnginx: [emerg] unknown directive "sever"`,
    )
    expect(stepsSince(host, mark)).toEqual([SWITCH, 'stop green'])
    expect(deploy.report.outcome).not.toBe('deployed')
    expect(journal.text()).toBe('')
  })

  it('a failed verify: the script restored the upstream and reloaded; the new slot drains, then stops', async () => {
    const host = hostWith(LIVE_BLUE).on({
      match: SWITCH,
      exitCode: SWITCH_FAILED,
      stdout: switchFailed(['recheck', 'install', 'test', 'reload'], 'verify', '-', [
        'RESTORED',
        'RELOADED',
      ]),
      stderr: VERIFY_FAILED,
    })
    const deploy = await startedDeploy(host)
    const mark = host.commands.length

    await expect(switchTogether(contextFor([deploy]), [deploy])).rejects.toThrow(
      /\[web1\] switch: verify: after the reload, nginx did not send requests where expected.*expected 127\.0\.0\.1:\d+/,
    )
    expect(stepsSince(host, mark)).toEqual([SWITCH, 'drain', 'stop green'])
  })

  it('a slot gone before the switch: the recheck says so with its log, nothing was touched', async () => {
    const host = hostWith(LIVE_BLUE).on({
      match: SWITCH,
      exitCode: SWITCH_FAILED,
      stdout: switchFailed([], 'recheck', String(SLOT_EXITED), []),
      stderr: 'Error: boom\n',
    })
    const deploy = await startedDeploy(host)
    const mark = host.commands.length

    await expect(switchTogether(contextFor([deploy]), [deploy])).rejects.toThrow(
      `[web1] switch: 2.0.0 on the green slot (port ${GREEN}) is no longer running; nothing was switched. Last lines of `,
    )
    expect(stepsSince(host, mark)).toEqual([SWITCH, 'stop green'])
  })

  it('a host without an HTTP client: recheck and verify through the tunnel, then the record', async () => {
    const host = hostWith(LIVE_BLUE)
      .on({ match: SCRIPT, exitCode: SWITCH_FAILED, stdout: 'CLIENT none\nNO-CLIENT\n', times: 1 })
      .on({
        match: SCRIPT,
        stdout: 'STEP install\nSTEP test\nSTEP reload\nSKIPPED verify\nSKIPPED record\nOK\n',
        times: 1,
      })
    const deploy = await startedDeploy(host)
    const mark = host.commands.length

    await switchTogether(contextFor([deploy]), [deploy])

    // The script's try, the tunnel's crash check (its health check is a request), who listens
    // on the port, the switch without the recheck, the record.
    expect(stepsSince(host, mark)).toEqual([SWITCH, SWITCH, SWITCH, SWITCH, 'record'])
    expect(host.commands[mark + 2]?.text).toContain('port_owner "$2"')
    // Without the recheck this time, and told the host has no client.
    const text = host.commands[mark + 3]?.text ?? ''
    const args = text.slice(text.lastIndexOf("' sh ") + 5)
    expect(args).toMatch(/^all \S+ \S+ take no-sudo 'nginx -t' 'nginx -s reload' '' 0 '' '' '' /)
    expect(args).toContain(
      " '[Xx]-[Dd][Ee][Pp][Ll][Oo][Yy]-[Uu][Pp][Ss][Tt][Rr][Ee][Aa][Mm]' none ",
    )
    expect(host.requests.map((r) => r.port)).toEqual([GREEN, settings.nginx.verifyPort])
    expect(deploy.report.outcome).toBe('deployed')
  })

  it('two hosts: a failed verify on one puts the other, already live and recorded, back too', async () => {
    const journal = new Journal()
    const web1 = hostWith(LIVE_BLUE)
    const web2 = hostWith(LIVE_BLUE)
    Object.assign(web2, { name: 'web2' })
    web2.on({
      match: RELOAD,
      exitCode: SWITCH_FAILED,
      stdout: switchFailed(['reload'], 'verify', '-', ['RESTORED', 'RELOADED']),
      stderr: VERIFY_FAILED,
    })
    const deploys = [await startedDeploy(web1, journal), await startedDeploy(web2, journal)]
    const marks = [web1.commands.length, web2.commands.length]

    await expect(switchTogether(contextFor(deploys), deploys)).rejects.toThrow(
      /\[web2\] switch: verify: /,
    )
    expect(stepsSince(web1, marks[0]!)).toEqual([
      INSTALL,
      RELOAD,
      RESTORE,
      RELOAD,
      'write state',
      'revert current',
      'drain',
      'stop green',
    ])
    expect(stepsSince(web2, marks[1]!)).toEqual([INSTALL, RELOAD, 'drain', 'stop green'])
    expect(deploys.map((d) => d.state.liveSlot)).toEqual(['blue', 'blue'])
    expect(journal.text()).toBe('')
  })
})

describe('switchBack (rolling rollback) on a fake host', () => {
  it('puts nginx back on the live slot before the new slot is drained and stopped', async () => {
    const host = hostWith(LIVE_BLUE)
    const deploy = await startedDeploy(host)
    await deploy.switchToNewSlot('all')
    expect(nginxSendsTo(host, slotPort(settings, LIVE_BLUE.liveSlot ?? 'blue'))).toBe(GREEN)
    const mark = host.commands.length

    await deploy.switchBack(true)

    expect(stepsSince(host, mark)).toEqual([
      SWITCH,
      'write state',
      'revert current',
      'drain',
      'stop green',
    ])
    expect(nginxSendsTo(host, slotPort(settings, LIVE_BLUE.liveSlot ?? 'blue'))).toBe(BLUE)
    expect(deploy.report.outcome).toBe('reverted')
    // The drain waits on the port of the slot nginx was moved off.
    const drain = host.commands.find((c, i) => i >= mark && c.step === 'drain')
    expect(drain?.text).toMatch(new RegExp(`' sh ${GREEN} `))
    // It served traffic: it counts as live from now on (a rerun may not replace it).
    expect(deploy.state).toEqual({ ...LIVE_BLUE, switchedBack: ['2.0.0'] })
  })

  it('after a verdict on the release (a watch, a canary): the state from before, never live', async () => {
    const host = hostWith(LIVE_BLUE)
    const deploy = await startedDeploy(host)
    await deploy.switchToNewSlot('all')
    await deploy.switchBack(false)
    expect(deploy.state).toEqual(LIVE_BLUE)
    expect(deploy.report.outcome).toBe('reverted')
  })
})

describe("the host's HTTP client, from the prepare block", () => {
  const deployOn = async (httpClient: string, rules: FakeRule[] = []) => {
    const host = new FakeHost('web1', [
      ...rules,
      {
        match: 'lock',
        stdout: preparedOutput(settings, { files: [JSON.stringify(LIVE_BLUE)], httpClient }),
      },
      { match: /^start (blue|green)$/, stdout: STARTED_HEALTHY },
    ])
    host.http = () => httpAnswer(200, 'ok')
    const deploy = await HostDeploy.lockAndLoad(
      new HostSession(host, settings, new Journal(), '2.0.0'),
      'a test',
    )
    return { host, deploy }
  }
  /** The client the health loop in a command was told to use (its argument after the interval). */
  const clientArg = (host: FakeHost, step: string) => {
    const text = host.commands.find((c) => c.step === step)?.text ?? ''
    const { timeoutMs, intervalMs } = settings.health
    return text.match(new RegExp(` ${timeoutMs} ${intervalMs} (\\w+) `))?.[1]
  }

  it('the health loop and the switch script use the client it found, without looking again', async () => {
    const { host, deploy } = await deployOn('wget')
    await deploy.startNewSlot()
    await deploy.waitHealthy()
    expect(deploy.nginx.httpClient).toBe('wget')
    expect(clientArg(host, 'start green')).toBe('wget')
  })

  it('none: the health loop says so at once and the checks go through the tunnel', async () => {
    const { host, deploy } = await deployOn('none', [
      {
        match: 'start green',
        stdout: 'STARTED 4242\nRESULT no-client 0\n',
        exitCode: HEALTH_NO_CLIENT,
      },
    ])
    await deploy.startNewSlot()
    expect(await deploy.waitHealthy()).toBe(1)
    expect(clientArg(host, 'start green')).toBe('none')
    expect(host.requests.map((r) => r.port)).toEqual([GREEN])
    expect(deploy.nginx.httpClient).toBe('none')
  })
})

describe('rollback start on a fake host', () => {
  /** 1.0.0 live on blue, 0.9.0 before it (stopped): a rollback starts 0.9.0 on green. */
  const ROLLED: HostState = {
    ...LIVE_BLUE,
    history: [
      ...LIVE_BLUE.history,
      {
        version: '0.9.0',
        sha256: 'b'.repeat(64),
        slot: 'green',
        deployedAt: '2025-12-01T00:00:00Z',
      },
    ],
  }
  const rollbackOn = async (releases: string[]) => {
    const host = new FakeHost('web1', [
      {
        match: 'lock',
        stdout: preparedOutput(settings, { files: [JSON.stringify(ROLLED)], releases }),
      },
      { match: /^start (blue|green)$/, stdout: STARTED_HEALTHY },
    ])
    const deploy = await HostDeploy.lockAndLoad(
      new HostSession(host, settings, new Journal(), ''),
      'a test',
    )
    expect(planRollback(deploy, '')).toBe(true)
    return { host, deploy }
  }

  it('starts the earlier release from releases/ without a command to look for it', async () => {
    const { host, deploy } = await rollbackOn(['0.9.0', '1.0.0'])
    expect(await startUnlessWarm(deploy)).toBe(true)
    // The prepare block listed the releases: the start is the only command after it.
    expect(host.steps()).toEqual(['lock', 'start green'])
  })

  it('refuses a release that keep-releases pruned, before touching anything', async () => {
    const { host, deploy } = await rollbackOn(['1.0.0'])
    await expect(startUnlessWarm(deploy)).rejects.toThrow(
      /^\[web1\] rollback: release 0\.9\.0 is no longer in \S+\/releases \(pruned by keep-releases\); deploy it again instead\.$/,
    )
    expect(host.steps()).toEqual(['lock'])
  })
})

describe('canary abort on a fake host', () => {
  it('all traffic back on the live slot, then the new slot drains before it stops', async () => {
    const host = hostWith(LIVE_BLUE)
    const journal = new Journal()
    const deploy = await startedDeploy(host, journal)
    await deploy.installUpstream(deploy.plan.targetSlot, 10)
    await deploy.reloadAndVerify(deploy.plan.targetSlot, 10)
    const mark = host.commands.length

    await deploy.backToLiveSlot()
    await deploy.stopNewSlot()

    expect(stepsSince(host, mark)).toEqual([SWITCH, 'drain', 'stop green'])
    // nginx and state.json agree again: nothing left for the post step.
    expect(journal.text()).toBe('')
  })

  it("a drain that reaches drain-timeout is stopped anyway, with the connections left in the log and the host's report", async () => {
    const host = hostWith(LIVE_BLUE, [{ match: 'drain', exitCode: 4, stdout: 'open 5\n5\n' }])
    const deploy = await startedDeploy(host)
    await deploy.installUpstream(deploy.plan.targetSlot, 10)
    await deploy.reloadAndVerify(deploy.plan.targetSlot, 10)
    const warnings: string[] = []
    vi.spyOn(process.stdout, 'write').mockImplementation((line) => {
      if (String(line).startsWith('::warning::')) warnings.push(String(line))
      return true
    })

    await deploy.backToLiveSlot()
    await deploy.stopNewSlot()

    expect(host.steps().slice(-2)).toEqual(['drain', 'stop green'])
    expect(deploy.report.openAfterDrain).toBe(5)
    expect(warnings).toEqual([
      expect.stringContaining(
        '[web1] the green slot still had 5 connection(s) open after drain-timeout (30.0s); stopping it anyway',
      ),
    ])
  })
})

describe('the deploy lock and the state, in one round trip on a fake host', () => {
  it('names the host and the holder when another deploy keeps the lock past lock-timeout', async () => {
    const host = new FakeHost('web1', [
      { match: 'lock', exitCode: LOCK_TIMED_OUT, stderr: 'held by run 41 by alice\n' },
    ])
    const session = new HostSession(host, settings, new Journal(), '2.0.0')
    await expect(HostDeploy.lockAndLoad(session, 'run 42')).rejects.toThrow(
      /^\[web1\] lock: another deploy holds the lock and did not finish within lock-timeout \(\d+s\); held by run 41 by alice$/,
    )
  })

  it('takes the lock, prepares the layout and reads state.json, the upstream and the process manager in one command', async () => {
    const host = hostWith(LIVE_BLUE)
    const session = new HostSession(host, settings, new Journal(), '2.0.0')
    const deploy = await HostDeploy.lockAndLoad(session, 'run 42')
    expect(host.commands.map((c) => `${c.kind} ${c.step}`)).toEqual(['openExec lock'])
    const [prepare] = host.commands
    expect(prepare?.text).toContain("'run 42' /srv/shop/.deploy/incoming /srv/shop/releases")
    expect(prepare?.text).toContain('/srv/shop/.deploy/state.json /etc/nginx/conf.d/')
    expect(deploy.plan).toMatchObject({ liveSlot: 'blue', targetSlot: 'green' })
    await session.releaseLock()
  })

  it('warns about restarts of the live slot, from the live slot of the manager that applies', async () => {
    const warnings: string[] = []
    vi.spyOn(process.stdout, 'write').mockImplementation((line) => {
      if (String(line).startsWith('::warning::')) warnings.push(String(line))
      return true
    })
    // auto: the detection, then builtin blue, builtin green, systemd blue, systemd green.
    const host = new FakeHost('web1', [
      {
        match: 'lock',
        stdout: preparedOutput(settings, {
          files: [JSON.stringify(LIVE_BLUE)],
          extras: ['systemd=no\n', '3 2026-01-01T00:00:00Z exited 1\n', '9', '8', '7'],
        }),
      },
    ])
    await HostDeploy.lockAndLoad(new HostSession(host, settings, new Journal(), '2.0.0'), 'a test')
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain(
      'the live blue slot (1.0.0) was restarted 3 time(s) by the process manager since it was started; last at 2026-01-01T00:00:00Z: the app exited 1.',
    )
  })
})

describe('ship on a fake host', () => {
  const archive: ReleaseArchive = {
    path: '/tmp/release.tar.gz',
    sha256: 'b'.repeat(64),
    bytes: 1234,
    source: 'release-path',
  }
  const withEnv = testSettings({
    hosts: 'web1',
    'known-hosts': 'web1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample',
    env: 'A=1',
  })

  async function loaded(s: Settings, answer: PreparedAnswer = {}, rules: FakeRule[] = []) {
    const host = new FakeHost('web1', [
      ...rules,
      {
        match: 'lock',
        stdout: preparedOutput(s, { files: [JSON.stringify(LIVE_BLUE)], ...answer }),
      },
    ])
    const session = new HostSession(host, s, new Journal(), '2.0.0')
    return { host, deploy: await HostDeploy.lockAndLoad(session, 'a test') }
  }

  it('streams the release and shared/.env into one command', async () => {
    const { host, deploy } = await loaded(withEnv)
    const mark = host.commands.length
    expect(await deploy.ship(archive)).toBe('uploaded')
    const commands = host.commands.slice(mark)
    expect(commands.map((c) => `${c.kind} ${c.step}`)).toEqual(['tryExecWithFile ship'])
    expect(commands[0]?.stdin).toBe('< /tmp/release.tar.gz')
    expect(commands[0]?.text).toContain(
      `sh /srv/shop/.deploy/incoming/2.0.0.bbbbbbbbbbbb.tar.gz ${archive.sha256} 1234;`,
    )
    expect(commands[0]?.text).toContain('/srv/shop/shared/.env')
    // Shipped once: the same release again is already there.
    expect(await deploy.ship(archive)).toBe('already there')
    expect(host.steps().slice(mark)).toEqual(['ship', 'write shared/.env'])
  })

  it('without env, never touches shared/.env', async () => {
    const { host, deploy } = await loaded(settings)
    await deploy.ship(archive)
    expect(host.commands.at(-1)?.text).not.toContain('.env')
    const again = await loaded(settings, { existing: archive.sha256 })
    expect(await again.deploy.ship(archive)).toBe('already there')
    expect(again.host.steps()).toEqual(['lock'])
  })

  it('replaces a release that never went live, refuses one that did, and one not ours', async () => {
    const other = 'c'.repeat(64)
    const rerun = await loaded(settings, { existing: other })
    expect(await rerun.deploy.ship(archive)).toBe('replaced')
    expect(rerun.host.commands.at(-1)?.text).toContain(
      `.release-sha256 ${other} 2.0.0 REVISION /srv/shop/.deploy/assets; }`,
    )

    const live: HostState = {
      ...LIVE_BLUE,
      history: [{ ...LIVE_BLUE.history[0]!, version: '2.0.0' }],
    }
    const wentLive = await loaded(settings, { existing: other, files: [JSON.stringify(live)] })
    await expect(wentLive.deploy.ship(archive)).rejects.toThrow(
      '[web1] ship: release 2.0.0 is already on the host with different content',
    )
    const notOurs = await loaded(settings, { existing: 'unknown' })
    await expect(notOurs.deploy.ship(archive)).rejects.toThrow(
      '[web1] ship: /srv/shop/releases/2.0.0 is already on the host but was not installed by this action',
    )
    expect([...wentLive.host.steps(), ...notOurs.host.steps()]).toEqual(['lock', 'lock'])
  })

  it('names the part that failed: the upload, the extract, shared/.env', async () => {
    const fail = async (answer: FakeRule) => {
      const { deploy } = await loaded(withEnv, {}, [{ ...answer, match: 'ship' }])
      return deploy.ship(archive).catch((error: Error) => error.message)
    }
    expect(await fail({ match: '', exitCode: null })).toBe(
      '[web1] ship: upload to /srv/shop/.deploy/incoming/2.0.0.bbbbbbbbbbbb.tar.gz failed: the SSH connection was lost',
    )
    expect(await fail({ match: '', exitCode: 4, stderr: 'checksum mismatch after upload' })).toBe(
      '[web1] ship: command exited 4:\nchecksum mismatch after upload',
    )
    expect(
      await fail({
        match: '',
        exitCode: 2,
        stdout: 'RECEIVED\n',
        stderr: 'No space left on device',
      }),
    ).toBe('[web1] extract release: command exited 2:\nNo space left on device')
    expect(
      await fail({ match: '', exitCode: 1, stdout: 'RECEIVED\nINSTALLED\n', stderr: 'mv: failed' }),
    ).toBe('[web1] write shared/.env: command exited 1:\nmv: failed')
  })
})

describe('repair (the post step) on a fake host', () => {
  /** The post step's order: lock, state, repair, unlock. */
  async function repaired(host: FakeHost, entry: Parameters<typeof repair>[1]) {
    const session = new HostSession(host, settings, new Journal(), '')
    const deploy = await HostDeploy.lockAndLoad(session, 'a test')
    const mark = host.commands.length
    const done = await repair(deploy, entry)
    await session.releaseLock()
    return { done, steps: stepsSince(host, mark) }
  }

  it('puts nginx back on the live slot, then drains and stops the slot the run had started', async () => {
    const { done, steps } = await repaired(hostWith(LIVE_BLUE), {
      startedSlot: 'green',
      upstreamTouched: true,
    })
    expect(steps).toEqual([SWITCH, 'drain', 'stop green'])
    expect(done).toEqual([
      'nginx sends traffic to the live blue slot again',
      'stopped the green slot the run had started',
    ])
  })

  it('on a first deploy restores the upstream file (and reloads) before stopping the started slot', async () => {
    const fresh: HostState = { ...LIVE_BLUE, liveSlot: null, slots: { blue: null, green: null } }
    const { steps } = await repaired(hostWith({ ...fresh, history: [] }), {
      startedSlot: 'blue',
      upstreamTouched: true,
    })
    expect(steps).toEqual([RESTORE, RELOAD, 'drain', 'stop blue'])
  })

  it('restores the site before the upstream it names', async () => {
    const { steps } = await repaired(hostWith(LIVE_BLUE), {
      siteTouched: true,
      upstreamTouched: true,
    })
    expect(steps).toEqual(['switch: restore site', SWITCH])
  })

  it('leaves the live slot alone', async () => {
    const { done, steps } = await repaired(hostWith(LIVE_BLUE), { startedSlot: 'blue' })
    expect(steps).toEqual([])
    expect(done).toEqual([])
  })
})

describe('start + health and the finish block on a fake host', () => {
  it('starts the slot and polls its health on the host, in one command', async () => {
    const host = hostWith(LIVE_BLUE)
    const deploy = await HostDeploy.lockAndLoad(
      new HostSession(host, settings, new Journal(), '2.0.0'),
      'a test',
    )
    const mark = host.commands.length
    await deploy.startNewSlot()
    expect(await deploy.waitHealthy()).toBe(1)
    expect(stepsSince(host, mark)).toEqual(['start green'])
    expect(deploy.target.pid).toBe(4242)
    expect(host.commands.at(-1)?.text).toContain('RESULT healthy')
    // Nothing went through the tunnel.
    expect(host.requests).toEqual([])
  })

  it('a start that fails names the start; one that never gets healthy names health and the last answer', async () => {
    const failedStart = hostWith(LIVE_BLUE, [
      {
        match: 'start green',
        exitCode: 1,
        stderr: 'node: cannot find module',
      },
    ])
    await expect(startedDeploy(failedStart)).rejects.toThrow(
      '[web1] start green: command exited 1:\nnode: cannot find module',
    )
    const unhealthy = hostWith(LIVE_BLUE, [
      {
        match: 'start green',
        exitCode: 4,
        stdout:
          'STARTED 4242\nwaiting 5 GET /health answered 503\nRESULT timeout 9\nLAST GET /health answered 503\n',
      },
    ])
    const deploy = await startedDeploy(unhealthy)
    await expect(deploy.waitHealthy()).rejects.toThrow(
      `[web1] health: green slot (port ${GREEN}) not healthy within health-timeout (${settings.health.timeoutMs / 1000}s); last check: GET /health answered 503`,
    )
  })

  it('on a host with neither curl nor wget, polls through the SSH tunnel', async () => {
    const host = hostWith(LIVE_BLUE, [
      {
        match: 'start green',
        exitCode: 5,
        stdout: 'STARTED 4242\nRESULT no-client 0\n',
      },
    ])
    const deploy = await startedDeploy(host)
    expect(await deploy.waitHealthy()).toBe(1)
    expect(host.requests).toContainEqual({ port: GREEN, path: settings.health.path })
  })

  it('drains, stops the old slot, writes state.json and prunes in one command', async () => {
    // releases/ as read with state.json: an older release beyond keep-releases.
    const host = hostWith(LIVE_BLUE, [
      {
        match: 'lock',
        stdout: preparedOutput(settings, {
          files: [JSON.stringify(LIVE_BLUE)],
          releases: ['0.9.0', '1.0.0'],
        }),
        times: 1,
      },
    ])
    const kept = testSettings({
      hosts: 'web1',
      'known-hosts': 'web1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample',
      'keep-releases': '2',
    })
    const deploy = await HostDeploy.lockAndLoad(
      new HostSession(host, kept, new Journal(), '2.0.0'),
      'a test',
    )
    await deploy.startNewSlot()
    await deploy.waitHealthy()
    await switchTogether(contextFor([deploy]), [deploy])
    const mark = host.commands.length

    expect(await finish(contextFor([deploy]), [deploy])).toBe('deployed')

    expect(stepsSince(host, mark)).toEqual(['finish'])
    const text = host.commands.at(-1)!.text
    expect(text).toMatch(new RegExp(`' sh ${BLUE} `))
    // state.json (its pid of blue cleared), then the one release to remove.
    expect(text).toMatch(/\n\}\n' '' '' \S+\/releases\/0\.9\.0$/)
    expect(deploy.state.slots.blue?.pid).toBeNull()
    expect(deploy.state.history.map((r) => r.version)).toEqual(['2.0.0', '1.0.0'])
  })

  it('a stop that fails names the stop, and state.json is left as it was', async () => {
    const host = hostWith(LIVE_BLUE, [
      {
        match: 'finish',
        exitCode: 6,
        stdout: 'DRAIN idle\nSTEP stop\nFAILED stop\n',
        stderr: 'stop-command failed',
      },
    ])
    const deploy = await startedDeploy(host)
    await deploy.waitHealthy()
    await switchTogether(contextFor([deploy]), [deploy])
    const pid = deploy.state.slots.blue?.pid

    expect(await deploy.drainOldSlot()).toEqual({ idle: true, open: 0 })
    await expect(deploy.stopOldSlot()).rejects.toThrow(
      '[web1] stop blue: command exited 6:\nstop-command failed',
    )
    expect(deploy.state.slots.blue?.pid).toBe(pid)
  })

  it('drain-timeout: the old slot is stopped anyway, and the log and the report say how many connections it had', async () => {
    const host = hostWith(LIVE_BLUE, [
      {
        match: 'finish',
        stdout: 'open 3\nDRAIN timeout 3\nSTEP stop\nSTEP state\nOK\n',
      },
    ])
    const deploy = await startedDeploy(host)
    await deploy.waitHealthy()
    await switchTogether(contextFor([deploy]), [deploy])
    const warnings: string[] = []
    vi.spyOn(process.stdout, 'write').mockImplementation((line) => {
      if (String(line).startsWith('::warning::')) warnings.push(String(line))
      return true
    })

    expect(await deploy.drainOldSlot()).toEqual({ idle: false, open: 3 })
    await deploy.stopOldSlot()
    expect(deploy.state.slots.blue?.pid).toBeNull()
    expect(deploy.report.openAfterDrain).toBe(3)
    expect(warnings).toEqual([
      '::warning::[web1] the blue slot still had 3 connection(s) open after drain-timeout (30.0s); stopping it anyway (a websocket stays open until the app closes it: README "Websockets")\n',
    ])
  })

  it('keep-previous warm: the finish block leaves the old slot running and state.json as it is', async () => {
    const warm = testSettings({
      hosts: 'web1',
      'known-hosts': 'web1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample',
      'keep-previous': 'warm',
    })
    const host = hostWith(LIVE_BLUE, [{ match: 'finish', stdout: 'DRAIN skipped\nOK\n' }])
    const deploy = await HostDeploy.lockAndLoad(
      new HostSession(host, warm, new Journal(), '2.0.0'),
      'a test',
    )
    await deploy.startNewSlot()
    await deploy.waitHealthy()
    await switchTogether(contextFor([deploy]), [deploy])
    const mark = host.commands.length

    await finish({ ...contextFor([deploy]), settings: warm }, [deploy])

    expect(stepsSince(host, mark)).toEqual(['finish'])
    // No port to drain, no stop command, no state.json, nothing to prune.
    expect(host.commands.at(-1)!.text).toMatch(/' sh '' 0 1 '' - '' '' ''$/)
    expect(deploy.state.slots.blue?.pid).toBe(100)
  })
})

describe('strategy reload on a fake host: in place only where the slot runs from current', () => {
  const reloadSettings = testSettings({
    hosts: 'web1',
    'known-hosts': 'web1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample',
    strategy: 'reload',
    'reload-command': 'kill -HUP "$SLOT_PID"',
  })
  const withWorkdir = (workdir?: string): HostState => ({
    ...LIVE_BLUE,
    slots: { ...LIVE_BLUE.slots, blue: { ...LIVE_BLUE.slots.blue!, ...(workdir && { workdir }) } },
  })
  async function loadedReload(state: HostState, rules: FakeRule[] = []) {
    const host = new FakeHost('web1', [
      ...rules,
      { match: 'lock', stdout: preparedOutput(reloadSettings, { files: [JSON.stringify(state)] }) },
      { match: /^start (blue|green)$/, stdout: STARTED_HEALTHY },
      { match: 'health', stdout: 'RESULT healthy 1\n' },
      { match: SWITCH, stdout: 'CLIENT curl\nSTEP recheck\nSTEP install\nOK\n' },
    ])
    const deploy = await HostDeploy.lockAndLoad(
      new HostSession(host, reloadSettings, new Journal(), '2.0.0'),
      'a test',
    )
    return { host, deploy, mark: host.commands.length }
  }

  it('a slot started from current is reloaded in place: SLOT_PID is found on the host', async () => {
    const { host, deploy, mark } = await loadedReload(withWorkdir('/srv/shop/current'))
    expect(await deployInPlace(deploy)).toBe(true)
    expect(stepsSince(host, mark)).toEqual([
      'reload: check slot',
      'reload: switch current',
      'reload: reload-command',
      'health',
    ])
    expect(host.commands[mark + 2]!.text).toContain('server_pid "$PORT"')
    expect(deploy.target).toMatchObject({ workdir: '/srv/shop/current', pid: 100 })
    expect(deploy.plan.targetSlot).toBe('blue')
  })

  it('a server that died in the reload: the run fails with why, current moves back, the failed reload back is a warning', async () => {
    // gunicorn's master exits when its new workers cannot load the app: nothing listens to reload.
    const { host, deploy, mark } = await loadedReload(withWorkdir('/srv/shop/current'), [
      { match: 'reload: reload-command', times: 1 },
      { match: 'health', exitCode: 3, stdout: 'RESULT exited 4\nReason: Worker failed to boot.\n' },
      {
        match: 'reload: reload-command',
        exitCode: 1,
        stderr: 'no process of the blue slot listens on port 3001\n',
      },
    ])
    const warnings: string[] = []
    vi.spyOn(process.stdout, 'write').mockImplementation((line) => {
      if (String(line).startsWith('::warning::')) warnings.push(String(line))
      return true
    })
    await expect(deployInPlace(deploy)).rejects.toThrow(/Worker failed to boot/)
    expect(stepsSince(host, mark)).toEqual([
      'reload: check slot',
      'reload: switch current',
      'reload: reload-command',
      'health',
      'reload: switch back',
      'reload: reload-command',
    ])
    expect(host.commands[mark + 4]!.text).toMatch(/ releases\/1\.0\.0$/)
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain('[web1] the reload back onto 1.0.0 failed too (')
    expect(warnings[0]).toContain('no process of the blue slot listens on port 3001')
    expect(warnings[0]).toContain('); /srv/shop/current points at 1.0.0 again')
    // The post step reloads once more.
    expect(deploy.session.journal.has('current moved')).toBe(true)
  })

  it('a slot started in its release dir: the new release starts on the other slot from current and the host switches', async () => {
    const { host, deploy, mark } = await loadedReload(withWorkdir())
    expect(await deployInPlace(deploy)).toBe(false)
    expect(stepsSince(host, mark)).toEqual([
      'reload: check slot',
      'reload: switch current',
      'start green',
      SWITCH,
    ])
    expect(host.commands[mark + 2]!.text).toContain(' /srv/shop/current ')
    expect(deploy.plan).toMatchObject({ liveSlot: 'blue', targetSlot: 'green' })
    expect(deploy.session.journal.has('current moved')).toBe(true)
  })

  it('a failed start there moves current back and stops the new slot; the live slot is left alone', async () => {
    const { host, deploy, mark } = await loadedReload(withWorkdir(), [
      { match: 'start green', exitCode: 3, stdout: 'STARTED 4242\nRESULT exited 1\nboom\n' },
    ])
    await expect(deployInPlace(deploy)).rejects.toThrow(/exited while booting on green/)
    expect(stepsSince(host, mark)).toEqual([
      'reload: check slot',
      'reload: switch current',
      'start green',
      'reload: switch back',
      'stop green',
    ])
    expect(deploy.session.journal.has('current moved')).toBe(false)
  })
})

describe('workers on a fake host', () => {
  const withWorkers = testSettings({
    hosts: 'web1',
    'known-hosts': 'web1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample',
    'worker-command': 'jobs: node worker.js\nmail: node mail.js',
  })
  /** 1.0.0 live on blue, its workers in the blue generation. */
  const LIVE_WORKERS: HostState = {
    ...LIVE_BLUE,
    workers: { generation: 'blue', version: '1.0.0', names: ['jobs'] },
  }
  const WORKERS_UP = 'WORKER worker-jobs-green up\nWORKER worker-mail-green up\n'

  async function switchedDeploy(host: FakeHost, journal = new Journal()) {
    const deploy = await HostDeploy.lockAndLoad(
      new HostSession(host, withWorkers, journal, '2.0.0'),
      'a test',
    )
    await deploy.startNewSlot()
    await deploy.waitHealthy()
    const ctx = { ...contextFor([deploy]), settings: withWorkers }
    await switchTogether(ctx, [deploy])
    return { deploy, ctx, mark: host.commands.length }
  }

  it('start in the other generation after the switch; the old ones stop in the finish block, after state.json', async () => {
    const journal = new Journal()
    const host = hostWith(LIVE_WORKERS, [{ match: 'workers', stdout: WORKERS_UP }])
    const { deploy, ctx, mark } = await switchedDeploy(host, journal)

    expect(await finish(ctx, [deploy])).toBe('deployed')

    expect(stepsSince(host, mark)).toEqual(['workers', 'finish'])
    const start = host.commands[mark]!.text
    expect(start).toContain(' worker-jobs-green ')
    expect(start).toContain(' worker-mail-green ')
    const block = host.commands[mark + 1]!.text
    // The stop of the blue generation's jobs worker is the finish block's workers argument.
    expect(block).toContain('/srv/shop/.deploy/worker-jobs-blue.pid')
    expect(block).toContain('echo "STEP workers"')
    expect(deploy.state.workers).toEqual({
      generation: 'green',
      version: '2.0.0',
      names: ['jobs', 'mail'],
    })
    expect(deploy.report.workers).toEqual([
      { name: 'jobs', version: '2.0.0', state: 'up' },
      { name: 'mail', version: '2.0.0', state: 'up' },
    ])
    expect(journal.text()).toBe('')
  })

  it('one that does not come up: the new ones stop, the web host switches back, the old ones stay', async () => {
    const host = hostWith(LIVE_WORKERS, [
      {
        match: 'workers',
        exitCode: 9,
        stdout: 'WORKER worker-jobs-green up\nWORKER worker-mail-green exited\n  fatal: no queue\n',
        times: 1,
      },
    ])
    const { deploy, ctx, mark } = await switchedDeploy(host)

    await expect(finish(ctx, [deploy])).rejects.toThrow(
      /\[web1\] workers: worker-mail-green exited; last lines of \/srv\/shop\/logs\/worker-mail-green\.log:\nfatal: no queue\n1 web host\(s\) switched back/,
    )
    expect(stepsSince(host, mark)).toEqual([
      'workers',
      'workers: stop the new ones',
      SWITCH,
      'write state',
      'revert current',
      'drain',
      'stop green',
    ])
    // The stop names the green generation only; the blue jobs worker was never touched.
    expect(host.commands[mark + 1]!.text).toContain('worker-mail-green.pid')
    expect(host.commands.map((c) => c.text).join('\n')).not.toContain('worker-jobs-blue.pid')
    expect(deploy.report.outcome).toBe('reverted')
  })

  it('the post step stops a generation state.json does not name, and leaves the live one', async () => {
    const host = hostWith(LIVE_WORKERS)
    const session = new HostSession(host, withWorkers, new Journal(), '')
    const deploy = await HostDeploy.lockAndLoad(session, 'a test')
    const mark = host.commands.length
    const done = await repair(deploy, {
      workers: [
        { generation: 'green', version: '2.0.0', names: ['jobs', 'mail'] },
        { generation: 'blue', version: '1.0.0', names: ['jobs'] },
      ],
    })
    expect(stepsSince(host, mark)).toEqual(['workers'])
    expect(done).toEqual(['stopped the 2.0.0 workers (jobs, mail)'])
  })
})
