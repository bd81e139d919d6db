/**
 * A Python app under Debian's gunicorn end to end (examples/gunicorn), started and reloaded as
 * README "Recipes" (Django) writes it: a blue-green deploy, then `strategy: reload` twice.
 * The first reload finds the live slot running from its release dir and moves to `current` on
 * the other slot; the next one HUPs the same master in place, whose new workers load the new
 * release. Zero failed requests throughout.
 */
import { appendFileSync, cpSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { errorLine, runAction } from '../../test/action-runner.js'
import {
  addSite,
  deployInputs,
  GUNICORN_APP,
  hostState,
  servedVersion,
} from '../../test/deploy-fixture.js'
import { startLab, type Lab, type LabHost } from '../../test/hosts/index.js'
import { formatLoadReport, moreAnswers, startLoad } from '../../test/load.js'
import { readmeInputs } from '../../test/readme.js'
import { tempDir } from '../../test/tmp.js'
import { waitFor } from '../../test/wait.js'

let lab: Lab
let host: LabHost

/**
 * README "Recipes", Django with gunicorn: its start, reload and version lines and its env as
 * written there; the migration imports the app (`manage.py check` does, for Django).
 */
const recipe = readmeInputs('recipe-django')
const deploy = (
  version: string,
  strategy: string,
  release = GUNICORN_APP,
  extra: Record<string, string> = {},
) =>
  runAction(
    deployInputs(lab, [host], release, {
      version,
      strategy,
      'start-command': recipe['start-command']!,
      'reload-command': recipe['reload-command']!,
      'version-path': recipe['version-path']!,
      env: recipe.env!,
      'migrate-command': `PYTHONPATH="$PWD/.python" python3 -c 'import shop.wsgi'`,
      ...extra,
    }),
  )

/** A copy of the app whose module raises at import: gunicorn's workers cannot load it. */
function brokenRelease(): string {
  const broken = tempDir('gunicorn-broken')
  cpSync(GUNICORN_APP, broken, { recursive: true })
  appendFileSync(join(broken, 'shop/wsgi.py'), 'raise RuntimeError("this release cannot load")\n')
  return broken
}

/** The slots of state.json: pid and working directory of each running one. */
const slots = async () =>
  (await hostState(host)).slots as Record<string, { pid: number; workdir: string }>

beforeAll(async () => {
  lab = await startLab({ hosts: 1, name: 'gunicorn', runtimes: ['gunicorn'] })
  host = lab.hosts[0]!
})

afterAll(async () => {
  await lab?.stop()
})

it('deploys blue-green, then reloads with HUP (from current, then in place): 0 failed requests', async () => {
  const first = await deploy('g1', 'blue-green')
  expect(errorLine(first.main.log)).toBe('')
  expect(first.main.outputs).toMatchObject({ status: 'deployed', 'live-slot': 'blue' })
  await addSite(host, 'shop')

  const load = startLoad({ urls: [`http://${host.address}/`], maxDurationMs: 120_000 })
  await moreAnswers(load, 100, 'g1')
  // Blue runs from releases/g1, where a HUP would load g1 again: g2 starts on green from current.
  const moved = await deploy('g2', 'reload')
  expect(errorLine(moved.main.log)).toBe('')
  expect(moved.main.outputs).toMatchObject({ status: 'deployed', 'live-slot': 'green' })
  expect(moved.main.log).toContain(
    'the blue slot runs from /srv/shop/releases/g1, not from /srv/shop/current',
  )
  const green = (await slots()).green!
  expect(green.workdir).toBe('/srv/shop/current')
  await moreAnswers(load, 100, 'g2')

  const reloaded = await deploy('g3', 'reload')
  expect(errorLine(reloaded.main.log)).toBe('')
  expect(reloaded.main.outputs).toMatchObject({ status: 'deployed', 'live-slot': 'green' })
  await moreAnswers(load, 100, 'g3')
  const report = await load.stop()
  console.log(`gunicorn under load: ${formatLoadReport(report)}`)
  expect(report.failureSamples).toEqual([])
  expect(report.failed).toBe(0)
  expect(await servedVersion(host)).toBe('g3')

  // The same slot serves g3 (no restart): gunicorn's master got the HUP, and its new workers
  // loaded the release current points at.
  expect((await slots()).green).toMatchObject({ pid: green.pid, workdir: '/srv/shop/current' })
  const { stdout } = await host.sh('readlink /srv/shop/current; ss -Hltn "sport = :3001" | wc -l')
  expect(stdout).toBe('releases/g3\n0\n')
  const { stdout: log } = await host.sh('cat /srv/shop/logs/green.log')
  expect(log).toContain('[INFO] Handling signal: hup')
})

it('a release whose app cannot load fails at migrate-command, before gunicorn gets the HUP', async () => {
  const before = (await slots()).green!
  const run = await deploy('g4', 'reload', brokenRelease())
  expect(run.main.exitCode).toBe(1)
  expect(run.main.log).toContain('RuntimeError: this release cannot load')
  expect(errorLine(run.main.log)).toContain('migrate')
  const { stdout } = await host.sh(
    'readlink /srv/shop/current; grep -c "signal: hup" /srv/shop/logs/green.log',
  )
  expect(stdout).toBe('releases/g3\n1\n')
  expect((await slots()).green).toMatchObject({ pid: before.pid, version: 'g3' })
  expect(await servedVersion(host)).toBe('g3')
})

it('a slot reloaded in place that crashes starts again in the release current points at', async () => {
  const { pid } = (await slots()).green!
  // Every process of the slot killed at once, as by the OOM killer; the supervisor restarts it.
  await host.sh(`kill -KILL -${pid}`)
  await waitFor(
    async () =>
      (await host.sh('cat /srv/shop/logs/green.log')).stdout.includes(
        `(pid ${pid}) was killed by signal KILL; restart 1 in 1 s`,
      ),
    {
      what: 'the supervisor to see the slot killed',
    },
  )
  const served = await waitFor(
    async () => {
      const version = await servedVersion(host)
      return /^g\d$/.test(version) ? version : undefined
    },
    { what: 'the green slot to serve again after its restart' },
  )
  expect(served).toBe('g3')
})

it('a slot restarted by its process manager is reloaded in place again', async () => {
  // The restart of the test above is recorded; it happened before this run, so it is no crash.
  const { pid } = (await slots()).green!
  const run = await deploy('g5', 'reload')
  expect(errorLine(run.main.log)).toBe('')
  expect(run.main.outputs).toMatchObject({ status: 'deployed', 'live-slot': 'green' })
  expect((await slots()).green).toMatchObject({ pid, version: 'g5' })
  expect(await servedVersion(host)).toBe('g5')
})

it('without that check gunicorn exits: the run fails naming why, and the slot comes back on the previous release', async () => {
  const load = startLoad({ urls: [`http://${host.address}/`], maxDurationMs: 60_000 })
  await moreAnswers(load, 100, 'g5')
  const run = await deploy('g6', 'reload', brokenRelease(), { 'migrate-command': '' })
  expect(run.main.exitCode).toBe(1)
  // The health check's error, with the slot's log, not the failed reload back onto g5.
  expect(errorLine(run.main.log)).toContain('Worker failed to boot')
  const { stdout } = await host.sh('readlink /srv/shop/current')
  expect(stdout).toBe('releases/g5\n')
  await moreAnswers(load, 100, 'g5')
  const report = await load.stop()
  // Measured, not asserted: how long the server was down (README "Recipes", Django).
  console.log(`gunicorn exiting on a broken reload: ${formatLoadReport(report)}`)
  expect(await servedVersion(host)).toBe('g5')
})
