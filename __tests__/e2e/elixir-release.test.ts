/**
 * An Elixir release end to end (examples/elixir, built once with Debian's elixir): blue-green
 * with `bin/shop start` (no exec: dash stays the BEAM's parent), the migration through
 * `bin/shop eval`, a rollback, all under load with zero failed requests; each slot stopped with
 * SIGTERM shuts the BEAM down gracefully, and with RELEASE_DISTRIBUTION=none no epmd outlives it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { errorLine, runAction } from '../../test/action-runner.js'
import {
  addSite,
  buildElixirRelease,
  deployInputs,
  hostState,
  servedVersion,
} from '../../test/deploy-fixture.js'
import { startLab, type Lab, type LabHost } from '../../test/hosts/index.js'
import { formatLoadReport, moreAnswers, startLoad } from '../../test/load.js'
import { readmeInputs } from '../../test/readme.js'

let lab: Lab
let host: LabHost
let release: string

/**
 * README "Recipes", Phoenix release: its start, migrate and version lines and its env as written
 * there (the Phoenix variables are unused by this app); the release is built once, by this file.
 */
const recipe = readmeInputs('recipe-mix-release')
const elixirInputs = (extra: Record<string, string>) =>
  deployInputs(lab, [host], release, {
    'start-command': recipe['start-command']!,
    'migrate-command': recipe['migrate-command']!,
    'version-path': recipe['version-path']!,
    env: recipe.env!,
    'health-timeout': '30s',
    ...extra,
  })
const deploy = (version: string) => runAction(elixirInputs({ version }))

beforeAll(async () => {
  lab = await startLab({ hosts: 1, name: 'elixir', runtimes: ['elixir'] })
  host = lab.hosts[0]!
  release = await buildElixirRelease()
}, 240_000)

afterAll(async () => {
  await lab?.stop()
})

it('deploys the release blue-green, migrates with bin/shop eval, rolls back: 0 failed requests', async () => {
  expect(recipe).toMatchObject({ 'start-command': 'bin/shop start' })
  expect(recipe.env).toContain('RELEASE_DISTRIBUTION=none\n')
  const first = await deploy('e1')
  expect(errorLine(first.main.log)).toBe('')
  expect(first.main.outputs).toMatchObject({ status: 'deployed', 'live-slot': 'blue' })
  await addSite(host, 'shop')

  const load = startLoad({ urls: [`http://${host.address}/`], maxDurationMs: 120_000 })
  await moreAnswers(load, 100, 'e1')
  const second = await deploy('e2')
  expect(errorLine(second.main.log)).toBe('')
  expect(second.main.outputs).toMatchObject({ status: 'deployed', 'live-slot': 'green' })
  await moreAnswers(load, 100, 'e2')
  const back = await runAction(elixirInputs({ 'release-path': '.', rollback: 'true' }))
  expect(errorLine(back.main.log)).toBe('')
  expect(back.main.outputs).toMatchObject({ status: 'rolled-back', version: 'e1' })
  await moreAnswers(load, 100, 'e1')
  const report = await load.stop()
  console.log(`elixir release under load: ${formatLoadReport(report)}`)
  expect(report.failureSamples).toEqual([])
  expect(report.failed).toBe(0)
  expect(await servedVersion(host)).toBe('e1')
  expect(await hostState(host)).toMatchObject({ liveSlot: 'blue' })

  // The migration ran once per deploy, from the new release, before its slot took traffic; the
  // rollback ran none.
  const { stdout: migrated } = await host.sh('cat /srv/shop/shared/migrations.log')
  expect(migrated).toBe('e1\ne2\n')

  // Green (e2) was stopped by SIGTERM: the BEAM ran the app's prep_stop and stop, and none of
  // its processes is left; no epmd was ever started (RELEASE_DISTRIBUTION=none).
  const { stdout: greenLog } = await host.sh('cat /srv/shop/logs/green.log')
  expect(greenLog).toContain('SIGTERM received - shutting down')
  expect(greenLog).toContain('shop e2 stopping')
  expect(greenLog).toContain('shop e2 stopped')
  const { stdout: left } = await host.sh(`pgrep -af '/srv/shop/releases/e[2]/' || true`)
  expect(left).toBe('')
  const { stdout: epmd } = await host.sh(`ss -Hltn 'sport = :4369' | wc -l`)
  expect(epmd.trim()).toBe('0')
})
