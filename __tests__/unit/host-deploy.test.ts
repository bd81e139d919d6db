/**
 * The order of HostDeploy's failure paths, against a fake host (test/fake-host.ts) that records
 * every command's step: what is restored, reloaded, drained and stopped, and in which order.
 * The e2e suite checks the same paths against real hosts; these say exactly which steps run.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { HostDeploy } from '../../src/deploy/host-deploy.js'
import { HostSession } from '../../src/deploy/host-session.js'
import { Journal } from '../../src/deploy/journal.js'
import { switchTogether } from '../../src/deploy/steps.js'
import type { DeployContext } from '../../src/deploy/context.js'
import { RemoteCommandError } from '../../src/common/errors.js'
import { HostLogs } from '../../src/report/log.js'
import { LOCK_TIMED_OUT } from '../../src/remote/commands/lock.js'
import { SLOT_EXITED } from '../../src/remote/commands/slot.js'
import { SWITCH_FAILED } from '../../src/remote/commands/switch.js'
import { slotPort } from '../../src/deploy/plan.js'
import { repair } from '../../src/post/repair.js'
import type { HostState } from '../../src/remote/state.js'
import {
  FakeHost,
  INSTALL_STEP,
  RELOAD_STEP,
  SWITCH_STEP,
  httpAnswer,
  nginxSendsTo,
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
function hostWith(state: HostState): FakeHost {
  const host = new FakeHost('web1', [
    { match: 'read state', stdout: `${JSON.stringify(state)}\0\0`, times: 1 },
    { match: /^start (blue|green)$/, stdout: '4242\n' },
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
  return { settings, version: '2.0.0', hosts, phases: [], canarySteps: [], logs: new HostLogs() }
}

/** HostDeploy of 2.0.0 on `host`, state read and the green slot started. */
async function startedDeploy(host: FakeHost, journal = new Journal()): Promise<HostDeploy> {
  const deploy = await HostDeploy.load(new HostSession(host, settings, journal, '2.0.0'))
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

    // The script's try, the tunnel's crash check (its health check is a request), the switch
    // without the recheck, the record.
    expect(stepsSince(host, mark)).toEqual([SWITCH, SWITCH, SWITCH, 'record'])
    // Without the recheck this time, and told the host has no client.
    const text = host.commands[mark + 2]?.text ?? ''
    const args = text.slice(text.lastIndexOf("' sh ") + 5)
    expect(args).toMatch(/^all \S+ \S+ take no-sudo 'nginx -t' 'nginx -s reload' '' 0 '' '' '' /)
    expect(args).toContain(' x-deploy-upstream none ')
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

    await deploy.switchBack()

    expect(stepsSince(host, mark)).toEqual([
      SWITCH,
      'write state',
      'revert current',
      'drain',
      'stop green',
    ])
    expect(nginxSendsTo(host, slotPort(settings, LIVE_BLUE.liveSlot ?? 'blue'))).toBe(BLUE)
    expect(deploy.report.outcome).toBe('reverted')
    // The drain waits on the port of the slot nginx was moved off (as /proc/net/tcp writes it).
    const drain = host.commands.find((c, i) => i >= mark && c.step === 'drain')
    const hex = GREEN.toString(16).toUpperCase().padStart(4, '0')
    expect(drain?.text).toMatch(new RegExp(`' sh ${hex} `))
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
})

describe('the deploy lock on a fake host', () => {
  it('names the host and the holder when another deploy keeps the lock past lock-timeout', async () => {
    const host = new FakeHost('web1', [
      { match: 'lock', exitCode: LOCK_TIMED_OUT, stderr: 'held by run 41 by alice\n' },
    ])
    const session = new HostSession(host, settings, new Journal(), '2.0.0')
    await expect(session.acquireLock('run 42')).rejects.toThrow(
      /^\[web1\] lock: another deploy holds the lock and did not finish within lock-timeout \(\d+s\); held by run 41 by alice$/,
    )
  })
})

describe('repair (the post step) on a fake host', () => {
  /** The post step's order: lock, state, repair, unlock. */
  async function repaired(host: FakeHost, entry: Parameters<typeof repair>[1]) {
    const session = new HostSession(host, settings, new Journal(), '')
    await session.acquireLock('a test')
    const deploy = await HostDeploy.load(session)
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
    expect(steps).toEqual([INSTALL, RELOAD, 'drain', 'stop green'])
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
    expect(steps).toEqual(['switch: restore site', INSTALL, RELOAD])
  })

  it('leaves the live slot alone', async () => {
    const { done, steps } = await repaired(hostWith(LIVE_BLUE), { startedSlot: 'blue' })
    expect(steps).toEqual([])
    expect(done).toEqual([])
  })
})
