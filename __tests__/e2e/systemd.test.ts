/**
 * `process-manager: systemd` end to end: the built bundle against a lab host whose pid 1 is a
 * real systemd (startLab({ systemd: true })), and against a host without systemd.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorLine, runAction } from '../../test/action-runner.js'
import {
  addSite,
  deployInputs,
  hostState,
  makeRelease,
  servedVersion,
} from '../../test/deploy-fixture.js'
import { waitOnHost } from '../../test/faults.js'
import { startLab, type Lab, type LabHost } from '../../test/hosts/index.js'
import { readmeBlock } from '../../test/readme.js'
import { waitFor } from '../../test/wait.js'
import { formatLoadReport, moreAnswers, startLoad } from '../../test/load.js'

let lab: Lab
let host: LabHost
let plainLab: Lab

const systemd = { 'process-manager': 'systemd' }
const deploy = (version: string, extra: Record<string, string> = {}, behaviour?: object) =>
  runAction(
    deployInputs(lab, [host], makeRelease(version, behaviour as Record<string, unknown>), {
      version,
      ...systemd,
      ...extra,
    }),
  )

/** `systemctl <verb> <units>` inside the host, one line per unit. */
async function systemctl(verb: string, ...units: string[]): Promise<string[]> {
  const { stdout } = await host.sh(`systemctl ${verb} ${units.join(' ')}`, { allowFail: true })
  return stdout.trim().split('\n')
}

const mainPid = async (unit: string) =>
  Number((await systemctl('show -p MainPID --value', unit))[0])

beforeAll(async () => {
  ;[lab, plainLab] = await Promise.all([
    startLab({ hosts: 2, name: 'systemd', systemd: true }),
    startLab({ hosts: 1, name: 'no-systemd' }),
  ])
  host = lab.hosts[0]!
})

afterAll(async () => {
  await Promise.all([lab?.stop(), plainLab?.stop()])
})

describe('process-manager: systemd on a host that runs systemd', () => {
  it('runs slots as <app>@blue / <app>@green: v1, v2 under load, rollback, restart on crash', async () => {
    const v1 = await deploy('v1')
    expect(errorLine(v1.main.log)).toBe('')
    expect(v1.main.outputs).toMatchObject({ status: 'deployed', 'live-slot': 'blue' })
    await addSite(host, 'shop')
    expect(await servedVersion(host)).toBe('v1')
    expect(await systemctl('is-active', 'shop@blue', 'shop@green')).toEqual(['active', 'inactive'])
    expect(await systemctl('is-enabled', 'shop@blue', 'shop@green')).toEqual([
      'enabled',
      'disabled',
    ])
    // The pid in state.json is the unit's main process; its output is in the journal.
    const state = (await hostState(host)) as { slots: Record<string, { pid: number }> }
    expect(state.slots.blue!.pid).toBe(await mainPid('shop@blue'))
    const unit = await host.sh(
      'cat /etc/systemd/system/shop@.service /srv/shop/.deploy/run-blue.sh',
    )
    expect(unit.stdout).toContain('ExecStart=/bin/sh "/srv/shop/.deploy/run-%i.sh" start')
    expect(unit.stdout).toContain('export APP_VERSION=v1\nexport RELEASE_DIR=/srv/shop/releases/v1')

    const load = startLoad({
      urls: [`http://${host.address}/`],
      keepAliveClients: 2,
      newConnectionClients: 1,
      slowClients: 1,
      slowMs: 1000,
      maxDurationMs: 90_000,
    })
    await moreAnswers(load, 100)
    const v2 = await deploy('v2', { 'stop-command': 'kill -TERM "$MAINPID"' })
    await moreAnswers(load, 100, 'v2')
    const report = await load.stop()
    console.log(`systemd v1 -> v2: ${formatLoadReport(report)}`)
    expect(errorLine(v2.main.log)).toBe('')
    expect(v2.main.outputs).toMatchObject({ status: 'deployed', 'live-slot': 'green' })
    expect(report.failureSamples).toEqual([])
    expect(report.failed).toBe(0)
    expect(Object.keys(report.byVersion).sort()).toEqual(['v1', 'v2'])
    expect(await servedVersion(host)).toBe('v2')
    expect(await systemctl('is-active', 'shop@blue', 'shop@green')).toEqual(['inactive', 'active'])
    expect(await systemctl('is-enabled', 'shop@blue', 'shop@green')).toEqual([
      'disabled',
      'enabled',
    ])

    // Cold rollback: v1 starts again on blue from releases/.
    const back = await runAction(
      deployInputs(lab, [host], '.', { ...systemd, 'release-path': '.', rollback: 'true' }),
    )
    expect(errorLine(back.main.log)).toBe('')
    expect(back.main.outputs).toMatchObject({
      status: 'rolled-back',
      version: 'v1',
      'live-slot': 'blue',
    })
    expect(await servedVersion(host)).toBe('v1')
    expect(await systemctl('is-active', 'shop@blue', 'shop@green')).toEqual(['active', 'inactive'])

    // After the deploy, systemd restarts a slot that dies (Restart=on-failure).
    const before = await mainPid('shop@blue')
    await host.sh('systemctl kill --signal=KILL shop@blue')
    const after = await waitFor(
      async () => {
        const pid = await mainPid('shop@blue')
        return pid !== 0 && pid !== before && pid
      },
      { what: 'systemd to restart shop@blue', timeoutMs: 10_000, intervalMs: 100 },
    )
    expect(after).not.toBe(before)
    expect(after).toBeGreaterThan(0)
  })

  it('a release that crashes at boot fails with the journal tail; the live slot keeps serving', async () => {
    const run = await deploy('crash', {}, { crashAtBoot: true })
    expect(run.main.exitCode).toBe(1)
    const error = errorLine(run.main.log)
    expect(error).toContain(
      `[${host.address}] health: the new version exited while booting on green`,
    )
    expect(error).toContain('journalctl -u shop@green')
    expect(error).toContain('fatal: crashing at boot as asked')
    // Only the journal of this start, not the lines of green's earlier v2 run.
    expect(error).not.toContain('as v2')
    expect(await servedVersion(host)).toBe('v1')
    expect(await systemctl('is-active', 'shop@green')).not.toEqual(['active'])
    expect(await systemctl('is-enabled', 'shop@green')).toEqual(['disabled'])
  })

  it('keep-previous: warm leaves the old unit running and enabled; a rollback to it is instant', async () => {
    const v3 = await deploy('v3', { 'keep-previous': 'warm' })
    expect(v3.main.outputs).toMatchObject({ status: 'deployed', 'live-slot': 'green' })
    expect(await systemctl('is-enabled', 'shop@blue', 'shop@green')).toEqual(['enabled', 'enabled'])
    const warm = await runAction(
      deployInputs(lab, [host], '.', { ...systemd, 'release-path': '.', rollback: 'true' }),
    )
    expect(errorLine(warm.main.log)).toBe('')
    expect(warm.main.outputs).toMatchObject({ status: 'rolled-back', 'live-slot': 'blue' })
    expect(warm.main.log).not.toContain('start blue: $')
    expect(await servedVersion(host)).toBe('v1')
  })

  it('strategy reload: SLOT_PID is the server, not the unit shell above it; the unit is not restarted', async () => {
    const reload = (version: string, extra: Record<string, string> = {}) =>
      runAction(
        deployInputs(lab, [host], makeRelease(version), {
          ...{ version, ...systemd, strategy: 'reload', 'app-name': 'hot' },
          ...{ 'blue-port': '5001', 'green-port': '5002', 'version-path': '/version' },
          // Without exec: the unit's main process is the shell, the server its child.
          'start-command': 'node cluster.js',
          'reload-command': 'echo "$SLOT_PID" > /srv/hot-slot-pid && kill -HUP "$SLOT_PID"',
          ...extra,
        }),
      )
    expect((await reload('r1')).main.outputs.status).toBe('deployed')
    const shell = await mainPid('hot@blue')
    const server = (await host.sh(`ss -Hltnp 'sport = :5001'`)).stdout.match(/pid=(\d+)/)?.[1]
    const r2 = await reload('r2') // version-path: only r2's workers pass the health check
    expect(errorLine(r2.main.log)).toBe('')
    expect(r2.main.outputs).toMatchObject({ status: 'deployed', 'live-slot': 'blue' })
    expect((await host.sh('cat /srv/hot-slot-pid')).stdout.trim()).toBe(server)
    expect(server).not.toBe(String(shell))
    expect(await mainPid('hot@blue')).toBe(shell)
    expect(await systemctl('show -p NRestarts --value', 'hot@blue')).toEqual(['0'])

    // A blue-green deploy stops the old unit whole: nothing of it is left, its port is free.
    const r3 = await reload('r3', { strategy: 'blue-green', 'start-command': 'node server.js' })
    expect(errorLine(r3.main.log)).toBe('')
    expect(r3.main.outputs).toMatchObject({ status: 'deployed', 'live-slot': 'green' })
    expect(await systemctl('is-active', 'hot@blue')).toEqual(['inactive'])
    expect((await host.sh(`ss -Hltn 'sport = :5001' | wc -l`)).stdout.trim()).toBe('0')
    expect((await host.sh(`pgrep -f '[c]luster.js' | wc -l`)).stdout.trim()).toBe('0')
  })
})

/** The sudoers lines README.md documents (nginx, and the systemd block), as written there. */
function readmeSudoers(): string {
  return `${readmeBlock('sudoers-nginx')}${readmeBlock('sudoers-systemd')}`
}

describe('process-manager: systemd: workers', () => {
  it('run as <app>-worker@<name>-<generation> units; the next release moves them to the other generation', async () => {
    const worker = { 'worker-command': 'jobs: node worker.js', 'worker-stop-timeout': '5s' }
    const first = await deploy('wk1', worker)
    expect(errorLine(first.main.log)).toBe('')
    const { workers } = (await hostState(host)) as { workers: { generation: string } }
    const [now, next] = workers.generation === 'blue' ? ['blue', 'green'] : ['green', 'blue']
    expect(await systemctl('is-active', `shop-worker@jobs-${now}`)).toEqual(['active'])
    const unit = await host.sh('cat /etc/systemd/system/shop-worker@.service')
    expect(unit.stdout).toContain('ExecStart=/bin/sh "/srv/shop/.deploy/run-worker-%i.sh" start')
    expect(unit.stdout).toContain('TimeoutStopSec=5')

    const second = await deploy('wk2', worker)
    expect(errorLine(second.main.log)).toBe('')
    expect(
      await systemctl('is-active', `shop-worker@jobs-${next}`, `shop-worker@jobs-${now}`),
    ).toEqual(['active', 'inactive'])
    // A release without workers stops the live ones.
    const none = await deploy('wk3')
    expect(errorLine(none.main.log)).toBe('')
    expect(await systemctl('is-active', `shop-worker@jobs-${next}`)).toEqual(['inactive'])
    expect(await hostState(host)).toMatchObject({ workers: null })
  })
})

describe('process-manager: systemd: the port of the slot to start', () => {
  it('a program that is not this app fails the start, named, before the unit starts', async () => {
    const { liveSlot } = (await hostState(host)) as { liveSlot: 'blue' | 'green' }
    const [idle, port] = liveSlot === 'blue' ? ['green', 3002] : ['blue', 3001]
    await host.sh(
      `cd /tmp && setsid node -e 'require("http").createServer((q, s) => s.end("x")).listen(${port})' > /dev/null 2>&1 < /dev/null &`,
    )
    await waitOnHost(host, `ss -Hltn 'sport = :${port}' | grep -q .`)
    const pid = (await host.sh(`ss -Hltnp 'sport = :${port}'`)).stdout.match(/pid=(\d+)/)?.[1]
    try {
      const run = await deploy('v-taken')
      expect(run.main.outputs.status).toBe('failed')
      expect(errorLine(run.main.log)).toContain(
        `start ${idle}: ${idle}-port ${port} is taken: pid ${pid} (node -e `,
      )
      expect(await systemctl('is-active', `shop@${idle}`)).toEqual(['inactive'])
    } finally {
      await host.sh(`kill ${pid}`)
    }
  })
})

describe('process-manager: systemd with a non-root user and sudo', () => {
  it('deploys v1 and v2 as user deploy with exactly the sudoers lines of the README', async () => {
    const host2 = lab.hosts[1]!
    await host2.sh(`set -e
echo 'deploy:x:1500:1500:deploy:/srv:/bin/sh' >> /etc/passwd
echo 'deploy:*:19000:0:99999:7:::' >> /etc/shadow
groups=$(sed 's/^\\(systemd-journal:.*:\\)$/\\1deploy/' /etc/group)
printf '%s\\ndeploy:x:1500:\\n' "$groups" > /etc/group
install -d -o deploy -g deploy /srv/shop
install -o deploy -m 644 /dev/null /etc/nginx/conf.d/shop.upstream.conf
cat > /etc/sudoers.d/deploy-shop <<'SUDOERS'
${readmeSudoers()}SUDOERS
chmod 440 /etc/sudoers.d/deploy-shop
visudo -cq`)
    const asDeploy = (version: string, behaviour?: Record<string, unknown>) =>
      runAction(
        deployInputs(lab, [host2], makeRelease(version, behaviour), {
          ...{ version, ...systemd, hosts: `deploy@${host2.address}`, sudo: 'true' },
        }),
      )
    const dry = await runAction(
      deployInputs(lab, [host2], '.', {
        ...{ ...systemd, hosts: `deploy@${host2.address}`, sudo: 'true', 'dry-run': 'true' },
      }),
    )
    // Ready: nginx is found outside the user's PATH, and sudo is asked about the very commands
    // the README's sudoers lines allow.
    expect(errorLine(dry.main.log)).toBe('')
    expect(dry.main.outputs.status).toBe('planned')
    for (const version of ['v1', 'v2']) {
      const run = await asDeploy(version)
      expect(errorLine(run.main.log)).toBe('')
      expect(run.main.outputs.status).toBe('deployed')
    }
    const { stdout } = await host2.sh(
      'systemctl is-active shop@blue shop@green; ps -o user= -p "$(systemctl show -p MainPID --value shop@green)"',
      { allowFail: true },
    )
    expect(stdout).toBe('inactive\nactive\ndeploy\n')
    // The journal is readable for members of systemd-journal: a boot crash shows its lines.
    const crash = await asDeploy('crash', { crashAtBoot: true })
    expect(errorLine(crash.main.log)).toContain('fatal: crashing at boot as asked')
  })
})

describe('process-manager: systemd on a host without systemd', () => {
  const inputs = (extra: Record<string, string>) => {
    const h = plainLab.hosts[0]!
    return deployInputs(plainLab, [h], makeRelease('v1'), { version: 'v1', ...systemd, ...extra })
  }

  it('dry-run names the host and the missing systemd', async () => {
    const { main } = await runAction(inputs({ 'dry-run': 'true' }))
    expect(main.exitCode).toBe(1)
    expect(main.log).toContain(
      `[${plainLab.hosts[0]!.address}] process-manager is systemd, but systemd is not running on this host (no /run/systemd/system); use process-manager: builtin.`,
    )
  })

  it('a deploy fails at the start of the slot with the same reason, nothing switched', async () => {
    const { main } = await runAction(inputs({}))
    expect(main.exitCode).toBe(1)
    const error = errorLine(main.log)
    expect(error).toContain(plainLab.hosts[0]!.address)
    expect(error).toContain('systemd is not running on this host')
    expect(main.outputs.status).toBe('failed')
  })
})
