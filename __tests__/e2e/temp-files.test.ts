/**
 * The bundle removes its own temp files (the packed release in RUNNER_TEMP/deploy-*): after a
 * deploy that works, one that fails, and one whose main step was killed (the post step removes
 * it). Self-hosted runners keep RUNNER_TEMP between jobs. The host scripts remove theirs too (the
 * HTTP checks' `tmp.*` dirs), on the host, on every one of those paths.
 */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { errorLine, runAction } from '../../test/action-runner.js'
import { deployInputs, makeRelease } from '../../test/deploy-fixture.js'
import { startLab, tempDirsSettled, type Lab, type LabHost } from '../../test/hosts/index.js'
import { tempDir } from '../../test/tmp.js'

let lab: Lab
let host: LabHost

beforeAll(async () => {
  lab = await startLab({ hosts: 1, name: 'temp-files' })
  host = lab.hosts[0]!
})

afterAll(async () => {
  await lab?.stop()
})

/** Runs the bundle with RUNNER_TEMP and TMPDIR in a fresh dir; returns the run and what it left. */
async function deployIn(
  version: string,
  overrides: Record<string, string>,
  behaviour?: Record<string, unknown>,
  killAfterMs?: number,
) {
  const runnerTemp = tempDir('runner-temp')
  const tmp = tempDir('runner-tmp')
  const run = await runAction(
    deployInputs(lab, [host], makeRelease(version, behaviour), { version, ...overrides }),
    { env: { RUNNER_TEMP: runnerTemp, TMPDIR: tmp }, killAfterMs },
  )
  // A host script the kill left running removes its temp dir at its next line (see tempDirsSettled).
  if (killAfterMs !== undefined) await tempDirsSettled([host])
  const left = [
    ...readdirSync(runnerTemp).map((e) => join('RUNNER_TEMP', e)),
    ...readdirSync(tmp).map((e) => join('TMPDIR', e)),
    ...host.tempLeftovers().map((e) => `host ${e}`),
  ]
  return { run, left }
}

it("a deploy leaves nothing in RUNNER_TEMP, TMPDIR or the host's temp dir", async () => {
  const { run, left } = await deployIn('v1', {})
  expect(errorLine(run.main.log)).toBe('')
  expect(run.main.exitCode).toBe(0)
  expect(run.main.log).toContain('Release archive ')
  expect(left).toEqual([])
})

it('a failed deploy leaves nothing either', async () => {
  const { run, left } = await deployIn('v2', { 'health-timeout': '2s' }, { healthStatus: 503 })
  expect(run.main.exitCode).toBe(1)
  expect(run.main.log).toContain('Release archive ')
  expect(left).toEqual([])
})

it('a main step killed mid-deploy: the post step removes the packed release', async () => {
  const { run, left } = await deployIn(
    'v3',
    { 'health-timeout': '60s' },
    { healthStatus: 503 },
    8_000,
  )
  expect(run.main.exitCode).toBe(null)
  // It died after packing: the archive was there for the post step to remove.
  expect(run.main.log).toContain('Release archive ')
  expect(run.post.exitCode).toBe(0)
  expect(left).toEqual([])
}, 120_000)
