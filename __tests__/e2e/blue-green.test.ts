/** Blue-green deploys end to end: the built bundle, run like the runner, against real hosts. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorLine, runAction } from '../../test/action-runner.js'
import {
  addSite,
  deployInputs,
  hostState,
  listening,
  makeRelease,
  servedVersion,
} from '../../test/deploy-fixture.js'
import { startLab, type Lab } from '../../test/hosts/index.js'

let lab: Lab

beforeAll(async () => {
  lab = await startLab({ hosts: 3, name: 'blue-green' })
})

afterAll(async () => {
  await lab?.stop()
})

describe('blue-green on one host', () => {
  it('deploys v1 to a fresh host, then v2 to green, v3 back to blue, then v3 again is unchanged', async () => {
    const host = lab.hosts[0]!
    const deploy = (version: string) =>
      runAction(deployInputs(lab, [host], makeRelease(version), { version }))

    const v1 = await deploy('v1')
    expect(errorLine(v1.main.log)).toBe('')
    expect(v1.main.exitCode).toBe(0)
    expect(v1.main.outputs).toMatchObject({
      status: 'deployed',
      version: 'v1',
      'live-slot': 'blue',
    })
    expect(v1.main.outputs['previous-version']).toBe('')
    await addSite(host, 'shop')
    expect(await servedVersion(host)).toBe('v1')

    const v2 = await deploy('v2')
    expect(v2.main.exitCode).toBe(0)
    expect(v2.main.outputs).toMatchObject({
      status: 'deployed',
      version: 'v2',
      'live-slot': 'green',
      'previous-slot': 'blue',
      'previous-version': 'v1',
    })
    expect(await servedVersion(host)).toBe('v2')
    expect(await listening(host, 3001)).toBe(false)
    expect(await listening(host, 3002)).toBe(true)

    const v3 = await deploy('v3')
    expect(v3.main.outputs).toMatchObject({ status: 'deployed', 'live-slot': 'blue' })
    expect(await servedVersion(host)).toBe('v3')

    const again = await deploy('v3')
    expect(again.main.exitCode).toBe(0)
    expect(again.main.outputs.status).toBe('unchanged')
    expect(await servedVersion(host)).toBe('v3')

    const state = await hostState(host)
    expect(state).toMatchObject({ liveSlot: 'blue' })
    expect((state.history as { version: string }[]).map((r) => r.version)).toEqual([
      'v3',
      'v2',
      'v1',
    ])
    // Without `env` the action writes no shared/.env (that file is the operator's).
    const { stdout: current } = await host.sh(
      'readlink /srv/shop/current; test -e /srv/shop/shared/.env || echo no shared/.env',
    )
    expect(current).toBe('releases/v3\nno shared/.env\n')
    const hosts = JSON.parse(v3.main.outputs.hosts!) as { host: string; outcome: string }[]
    expect(hosts).toMatchObject([{ host: host.address, outcome: 'deployed' }])
    expect(v3.main.summary).toContain('mermaid')
    expect(v3.main.summary).toContain('rollback')
  })
})

describe('blue-green on several hosts', () => {
  it('moves three hosts together, with env, migrate, smoke, post-deploy, warm previous slot and pruning', async () => {
    const hosts = lab.hosts
    const inputs = (version: string, extra: Record<string, string> = {}) =>
      deployInputs(lab, hosts, makeRelease(version), {
        version,
        'app-name': 'fleet',
        'blue-port': '4001',
        'green-port': '4002',
        'keep-releases': '2',
        env: 'GREETING=it\'s "quoted" $(not run)\nDATABASE_URL=postgres://db/fleet',
        'migrate-command':
          'echo "$APP_VERSION $SLOT $PORT $RELEASE_NODE $GREETING" >> "$DEPLOY_PATH/shared/migrations"',
        'post-deploy-command': 'echo "contract $APP_VERSION" >> "$DEPLOY_PATH/shared/migrations"',
        'stop-command':
          'echo "stop $APP_VERSION $SLOT $PORT" >> "$DEPLOY_PATH/shared/stops"; kill -TERM "$(cat "$DEPLOY_PATH/.deploy/$SLOT.pid")"',
        'version-path': '/version',
        'smoke-command': `node -e "Promise.all(process.env.DEPLOY_PREVIEW_URLS.split(' ').map((u) => fetch(u + '/version').then((r) => r.text()))).then((v) => process.exit(v.every((t) => t.trim() === process.env.APP_VERSION) && v.length === 3 ? 0 : 1))"`,
        ...extra,
      })
    for (const version of ['f1', 'f2', 'f3']) {
      const run = await runAction(
        inputs(version, version === 'f3' ? { 'keep-previous': 'warm' } : {}),
      )
      expect(errorLine(run.main.log)).toBe('')
      expect(run.main.outputs.status).toBe('deployed')
      const report = JSON.parse(run.main.outputs.hosts!) as { outcome: string; version: string }[]
      expect(report.map((h) => [h.outcome, h.version])).toEqual(
        hosts.map(() => ['deployed', version]),
      )
    }
    for (const host of hosts) {
      const { stdout } = await host.sh(
        'ls /srv/fleet/releases; readlink /srv/fleet/current; cat /srv/fleet/shared/.env',
      )
      // keep-releases 2 keeps f3 and f2 (the previous one); f1 is pruned.
      expect(stdout).toBe(
        `f2\nf3\nreleases/f3\nGREETING='it'\\''s "quoted" $(not run)'\nDATABASE_URL=postgres://db/fleet\n`,
      )
      // The pruned release leaves the history too: it could not be rolled back to.
      const history = (await hostState(host, 'fleet')).history as { version: string }[]
      expect(history.map((r) => r.version)).toEqual(['f3', 'f2'])
      // keep-previous: warm leaves f2 running on green for an instant rollback.
      expect(await listening(host, 4001)).toBe(true)
      expect(await listening(host, 4002)).toBe(true)
    }
    const { stdout: migrations } = await hosts[0]!.sh('cat /srv/fleet/shared/migrations')
    expect(migrations).toBe(
      [
        `f1 blue 4001 fleet_blue it's "quoted" $(not run)`,
        'contract f1',
        `f2 green 4002 fleet_green it's "quoted" $(not run)`,
        'contract f2',
        `f3 blue 4001 fleet_blue it's "quoted" $(not run)`,
        'contract f3',
        '',
      ].join('\n'),
    )
    // stop-command stopped f1 (blue) when f2 took over, with that slot's variables; f2 stays warm.
    for (const host of hosts) {
      const { stdout: stops } = await host.sh('cat /srv/fleet/shared/stops')
      expect(stops).toBe('stop f1 blue 4001\n')
    }
    // Migrations run once per deploy, on the first host only. The same env each time: shared/.env
    // was written once and never replaced, so no backup of it was made.
    const { stdout: others } = await hosts[1]!.sh(
      'ls -A /srv/fleet/shared; test -e /srv/fleet/.deploy/env-backups || echo no backups',
    )
    expect(others).toBe('.env\nstops\nno backups\n')
  })
})
