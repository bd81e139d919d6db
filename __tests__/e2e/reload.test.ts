/**
 * strategy: reload end to end: a gunicorn-style master (examples/app/cluster.js) that replaces its
 * workers on SIGHUP swaps code under load with zero failed requests, on one slot and one port;
 * a release whose workers cannot start is rolled back (current moves back, reload again).
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { errorLine, runAction } from '../../test/action-runner.js'
import {
  addSite,
  deployInputs,
  hostState,
  makeRelease,
  servedVersion,
} from '../../test/deploy-fixture.js'
import { startLab, type Lab, type LabHost } from '../../test/hosts/index.js'
import { formatLoadReport, moreAnswers, startLoad } from '../../test/load.js'
import { waitFor } from '../../test/wait.js'

let lab: Lab
let host: LabHost

const deploy = (
  version: string,
  behaviour?: Record<string, unknown>,
  extra: Record<string, string> = {},
) =>
  runAction(
    deployInputs(lab, [host], makeRelease(version, behaviour), {
      version,
      strategy: 'reload',
      // Without exec, as users write it: dash stays the master's parent, and SLOT_PID must be
      // the master (the oldest process of the slot listening on its port), not dash.
      'start-command': 'node cluster.js',
      'reload-command': 'kill -HUP "$SLOT_PID"',
      'version-path': '/version',
      ...extra,
    }),
  )

beforeAll(async () => {
  lab = await startLab({ hosts: 1, name: 'reload' })
  host = lab.hosts[0]!
})

afterAll(async () => {
  await lab?.stop()
})

it('reloads new code in place under load without one failed request', async () => {
  const first = await deploy('r1')
  expect(errorLine(first.main.log)).toBe('')
  expect(first.main.outputs).toMatchObject({ status: 'deployed', 'live-slot': 'blue' })
  await addSite(host, 'shop')
  const pid = ((await hostState(host)).slots as { blue: { pid: number } }).blue.pid

  const load = startLoad({
    urls: [`http://${host.address}/`],
    slowClients: 2,
    maxDurationMs: 60_000,
  })
  await moreAnswers(load, 100)
  for (const version of ['r2', 'r3']) {
    const run = await deploy(version)
    expect(errorLine(run.main.log)).toBe('')
    expect(run.main.outputs).toMatchObject({ status: 'deployed', 'live-slot': 'blue' })
  }
  await moreAnswers(load, 100, 'r3')
  const report = await load.stop()
  console.log(`reload under load: ${formatLoadReport(report)}`)
  expect(report.failureSamples).toEqual([])
  expect(report.failed).toBe(0)
  expect(report.byVersion.r3).toBeGreaterThan(0)
  expect(await servedVersion(host)).toBe('r3')
  // The same master process served all three versions: no second slot, no restart. The slot
  // runs from current, as state.json records.
  const slot = ((await hostState(host)).slots as { blue: { pid: number; workdir: string } }).blue
  expect(slot).toMatchObject({ pid, workdir: '/srv/shop/current' })
  const { stdout } = await host.sh('ss -Hltn "sport = :3002" | wc -l; readlink /srv/shop/current')
  expect(stdout).toBe('0\nreleases/r3\n')
})

it('moves current back and reloads again when the new workers never come up', async () => {
  const run = await deploy('r4', { crashAtBoot: true }, { 'health-timeout': '3s' })
  expect(run.main.exitCode).toBe(1)
  expect(errorLine(run.main.log)).toContain(
    `[${host.address}] health: blue slot (port 3001) not healthy`,
  )
  const { stdout } = await host.sh('readlink /srv/shop/current')
  expect(stdout).toBe('releases/r3\n')
  expect(await servedVersion(host)).toBe('r3')
  expect(await hostState(host)).toMatchObject({ liveSlot: 'blue' })
})

it('a run killed after moving current: the post step moves it back and reloads the old code', async () => {
  const before = await hostState(host)
  const killed = await runAction(
    deployInputs(lab, [host], makeRelease('r5'), {
      version: 'r5',
      strategy: 'reload',
      'start-command': 'node cluster.js',
      // The first reload hangs (the runner dies meanwhile); the post step's own reload does not.
      'reload-command':
        'kill -HUP "$SLOT_PID"; if [ ! -f /srv/reload-hung ]; then touch /srv/reload-hung; sleep 30; fi',
      'version-path': '/version',
    }),
    { killAfterMs: 4000 },
  )
  expect(killed.main.exitCode).toBeNull()
  expect(killed.post.exitCode).toBe(0)
  expect(killed.post.log).toContain(
    `post: [${host.address}] current points at r3 again; reloaded the blue slot on it`,
  )
  const { stdout } = await host.sh('readlink /srv/shop/current')
  expect(stdout).toBe('releases/r3\n')
  // The new workers of the post step's reload take over from the old ones.
  await waitFor(async () => (await servedVersion(host)) === 'r3', {
    what: `${host.name} to serve r3 after the post step's reload`,
    timeoutMs: 10_000,
  })
  expect(await servedVersion(host)).toBe('r3')
  expect(await hostState(host)).toEqual(before)
})
