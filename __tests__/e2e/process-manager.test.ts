/**
 * The default `process-manager: auto` keeps the app up between deploys, end to end on the built
 * bundle: on a host without systemd the supervised builtin manager, on a host whose pid 1 is
 * systemd (root login) the units. SIGKILL of the live app: it serves again within 5 s; the slot a
 * deploy stopped stays stopped; the next run reports the restart. Builtin: boot.sh brings the
 * live slot back when every process of it is gone (what a reboot leaves).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorLine, runAction } from '../../test/action-runner.js'
import {
  addSite,
  deployInputs,
  listening,
  makeRelease,
  servedVersion,
} from '../../test/deploy-fixture.js'
import { startLab, type Lab, type LabHost } from '../../test/hosts/index.js'
import { letTimePass, waitFor } from '../../test/wait.js'

let plainLab: Lab
let systemdLab: Lab

beforeAll(async () => {
  ;[plainLab, systemdLab] = await Promise.all([
    startLab({ hosts: 1, name: 'pm-builtin' }),
    startLab({ hosts: 1, name: 'pm-systemd', systemd: true }),
  ])
})

afterAll(async () => {
  await Promise.all([plainLab?.stop(), systemdLab?.stop()])
})

const deploy = (lab: Lab, version: string) =>
  runAction(deployInputs(lab, [lab.hosts[0]!], makeRelease(version), { version }))

/** Milliseconds until the site serves `version` again (at most `ms`, else a timeout error). */
async function servesAgain(host: LabHost, version: string, ms = 10_000): Promise<number> {
  const start = Date.now()
  await waitFor(async () => (await servedVersion(host)) === version, {
    what: `the site to serve ${version} again`,
    timeoutMs: ms,
  })
  return Date.now() - start
}

/** v1 on blue, v2 on green (the deploy stopped blue), the site up. */
async function deployTwice(lab: Lab): Promise<string> {
  const host = lab.hosts[0]!
  const v1 = await deploy(lab, 'v1')
  expect(errorLine(v1.main.log)).toBe('')
  await addSite(host, 'shop')
  const v2 = await deploy(lab, 'v2')
  expect(errorLine(v2.main.log)).toBe('')
  expect(v2.main.outputs).toMatchObject({ status: 'deployed', 'live-slot': 'green' })
  expect(await servedVersion(host)).toBe('v2')
  return v2.main.log
}

describe('process-manager auto on a host without systemd: the supervised builtin manager', () => {
  it('restarts the live app after SIGKILL within 5 s; the stopped slot stays stopped; the next run says so', async () => {
    const host = plainLab.hosts[0]!
    const log = await deployTwice(plainLab)
    expect(log).toContain('process-manager auto: builtin (systemd does not run this host)')

    // The slot's leader (the shell of `node server.js`, in the pidfile) and the server below it,
    // which the OOM killer would pick.
    const { stdout } = await host.sh(
      `cat /srv/shop/.deploy/green.pid; ss -Hltnp 'sport = :3002' | sed 's/.*pid=\\([0-9]*\\).*/\\1/'`,
    )
    const [app, server] = stdout.trim().split('\n').map(Number)
    expect(server).not.toBe(app)
    await host.sh(`kill -KILL ${server}`)
    const ms = await servesAgain(host, 'v2')
    console.log(`builtin: served again ${ms} ms after SIGKILL`)
    expect(ms).toBeLessThan(5000)
    const after = await host.sh(
      'cat /srv/shop/.deploy/green.pid; tail -n 3 /srv/shop/logs/green.log',
    )
    expect(after.stdout).not.toMatch(new RegExp(`^${app}\\n`))
    expect(after.stdout).toContain(
      `the app (pid ${app}) was killed by signal KILL; restart 1 in 1 s`,
    )

    // Blue, stopped by the v2 deploy, was not started again by anything.
    await letTimePass(1500, "longer than the supervisor's first restart delay (1 s)")
    expect(await listening(host, 3001)).toBe(false)
    const blue = await host.sh(
      'ls /srv/shop/.deploy/blue.pid /srv/shop/.deploy/blue.supervisor.pid',
      {
        allowFail: true,
      },
    )
    expect(blue.stdout).toBe('')

    // The next run reports the restart (and deploys as usual).
    const v3 = await deploy(plainLab, 'v3')
    expect(errorLine(v3.main.log)).toBe('')
    expect(v3.main.log).toContain(
      `[${host.address}] the live green slot (v2) was restarted 1 time(s) by the process manager since it was started; last at `,
    )
    expect(v3.main.log).toContain(
      'the app was killed by signal KILL. See /srv/shop/logs/green.log.',
    )
    expect(await servedVersion(host)).toBe('v3')
    expect(await listening(host, 3002)).toBe(false)
  })

  it('boot.sh brings the live slot back when every process of it is gone (a reboot), and only it', async () => {
    const host = plainLab.hosts[0]!
    // v3 is live on blue; kill its supervisor and every process of the slot at once (the
    // pidfile names the leader of the slot's process group), as a reboot does.
    await host.sh(
      'kill -KILL "$(cat /srv/shop/.deploy/blue.supervisor.pid)" "-$(cat /srv/shop/.deploy/blue.pid)"',
    )
    // Nothing brings it back by itself (the supervisor is gone too): 2.5 s of polling see no v3.
    const cameBack = await servesAgain(host, 'v3', 2500).then(
      () => true,
      () => false,
    )
    expect(cameBack).toBe(false)
    const boot = await host.sh('sh /srv/shop/.deploy/boot.sh')
    expect(boot.stdout).toBe('blue: started\n')
    const ms = await servesAgain(host, 'v3')
    expect(ms).toBeLessThan(5000)
    expect(await listening(host, 3002)).toBe(false)
    // Run again (e.g. from cron every minute): the running slot is left alone.
    expect((await host.sh('sh /srv/shop/.deploy/boot.sh')).stdout).toBe('')
  })
})

describe('process-manager auto on a host whose pid 1 is systemd (root login): the units', () => {
  it('restarts the live unit after SIGKILL within 5 s; the stopped unit stays stopped; the next run says so', async () => {
    const host = systemdLab.hosts[0]!
    const log = await deployTwice(systemdLab)
    expect(log).toContain('process-manager auto: systemd (systemd runs this host and root is root)')
    const units = await host.sh('systemctl is-active shop@blue shop@green', { allowFail: true })
    expect(units.stdout).toBe('inactive\nactive\n')

    const { stdout } = await host.sh('systemctl show -p MainPID --value shop@green')
    await host.sh(`kill -KILL ${stdout.trim()}`)
    const ms = await servesAgain(host, 'v2')
    console.log(`systemd: served again ${ms} ms after SIGKILL`)
    expect(ms).toBeLessThan(5000)
    await letTimePass(1500, "longer than the supervisor's first restart delay (1 s)")
    expect(await listening(host, 3001)).toBe(false)
    const after = await host.sh('systemctl is-active shop@blue', { allowFail: true })
    expect(after.stdout).toBe('inactive\n')

    const v3 = await deploy(systemdLab, 'v3')
    expect(errorLine(v3.main.log)).toBe('')
    expect(v3.main.log).toContain(
      `[${host.address}] the live green slot (v2) was restarted 1 time(s) by the process manager since it was started. See the journal (journalctl -u shop@green).`,
    )
    expect(await servedVersion(host)).toBe('v3')
  })

  it('refuses, before anything changes, a login user that may not manage the installed units', async () => {
    const host = systemdLab.hosts[0]!
    await host.sh(`set -e
echo 'deploy:x:1500:1500:deploy:/srv:/bin/sh' >> /etc/passwd
echo 'deploy:*:19000:0:99999:7:::' >> /etc/shadow
echo 'deploy:x:1500:' >> /etc/group
chown deploy /srv/shop/.deploy /srv/shop/.deploy/lock`)
    const before = await host.sh('cat /srv/shop/.deploy/state.json')
    const asDeploy = (extra: Record<string, string>) =>
      runAction(
        deployInputs(systemdLab, [host], makeRelease('v4'), {
          ...{ version: 'v4', hosts: `deploy@${host.address}`, ...extra },
        }),
      )
    const refused =
      "process-manager auto: /etc/systemd/system/shop@.service is installed, so this app's slots run as systemd units, but deploy may not manage them"
    const dry = await asDeploy({ 'dry-run': 'true' })
    expect(dry.main.log).toContain(`[${host.address}] ${refused}`)
    const run = await asDeploy({})
    expect(run.main.exitCode).toBe(1)
    expect(errorLine(run.main.log)).toContain(`[${host.address}] process manager: ${refused}`)
    expect(errorLine(run.main.log)).toContain('Nothing was changed.')
    expect((await host.sh('cat /srv/shop/.deploy/state.json')).stdout).toBe(before.stdout)
    expect(await servedVersion(host)).toBe('v3')
    expect((await host.sh('ls /srv/shop/releases')).stdout).not.toContain('v4')
  })
})
