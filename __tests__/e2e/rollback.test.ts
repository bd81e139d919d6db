/** Rollback end to end: warm (instant), cold (start from releases/), rollback-to, and refusals. */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { errorLine, runAction } from '../../test/action-runner.js'
import { addSite, deployInputs, makeRelease, servedVersion } from '../../test/deploy-fixture.js'
import { startLab, type Lab, type LabHost } from '../../test/hosts/index.js'

let lab: Lab
let host: LabHost

const deploy = (version: string, extra: Record<string, string> = {}) =>
  runAction(deployInputs(lab, [host], makeRelease(version), { version, ...extra }))
/** A rollback run: no release-path, version or build; only what says where and how to switch. */
const rollbackRun = (extra: Record<string, string>) =>
  runAction(deployInputs(lab, [host], '.', { 'release-path': '.', ...extra }))

beforeAll(async () => {
  lab = await startLab({ hosts: 1, name: 'rollback' })
  host = lab.hosts[0]!
})

afterAll(async () => {
  await lab?.stop()
})

it('rolls back instantly to a warm slot, cold from releases/, and to a named version', async () => {
  expect((await deploy('v1')).main.outputs.status).toBe('deployed')
  await addSite(host, 'shop')
  expect((await deploy('v2', { 'keep-previous': 'warm' })).main.outputs.status).toBe('deployed')

  // v1 still runs on blue: the rollback only switches nginx.
  const warm = await rollbackRun({ rollback: 'true' })
  expect(errorLine(warm.main.log)).toBe('')
  expect(warm.main.outputs).toMatchObject({
    status: 'rolled-back',
    version: 'v1',
    'previous-version': 'v2',
    'live-slot': 'blue',
  })
  expect(warm.main.log).not.toContain('start blue: $')
  expect(await servedVersion(host)).toBe('v1')

  // v3 replaces v1 (keep-previous: stop), so going back to v1 starts it again from releases/.
  expect((await deploy('v3')).main.outputs.status).toBe('deployed')
  const cold = await rollbackRun({ rollback: 'true' })
  expect(errorLine(cold.main.log)).toBe('')
  expect(cold.main.outputs).toMatchObject({
    status: 'rolled-back',
    version: 'v1',
    'previous-version': 'v3',
  })
  expect(cold.main.log).toContain('start blue: $')
  expect(await servedVersion(host)).toBe('v1')

  const named = await rollbackRun({ 'rollback-to': 'v2' })
  expect(errorLine(named.main.log)).toBe('')
  expect(named.main.outputs).toMatchObject({ status: 'rolled-back', version: 'v2' })
  expect(await servedVersion(host)).toBe('v2')

  const again = await rollbackRun({ 'rollback-to': 'v2' })
  expect(again.main.outputs.status).toBe('unchanged')
})

it('refuses an unknown version, listing the available ones, and changes nothing', async () => {
  const before = await servedVersion(host)
  const run = await rollbackRun({ 'rollback-to': 'v9' })
  expect(run.main.exitCode).toBe(1)
  expect(errorLine(run.main.log)).toContain(
    `[${host.address}] rollback: version v9 is not in this host's history; available: v2, v1, v3. Nothing was changed.`,
  )
  expect(await servedVersion(host)).toBe(before)
})

it('says so when there is nothing to roll back to', async () => {
  const first = await runAction(
    deployInputs(lab, [host], makeRelease('only'), {
      version: 'only',
      'app-name': 'lonely',
      'blue-port': '5001',
      'green-port': '5002',
    }),
  )
  expect(first.main.outputs.status).toBe('deployed')
  const run = await runAction(
    deployInputs(lab, [host], '.', {
      rollback: 'true',
      'app-name': 'lonely',
      'blue-port': '5001',
      'green-port': '5002',
    }),
  )
  expect(run.main.exitCode).toBe(1)
  expect(errorLine(run.main.log)).toContain(
    `[${host.address}] rollback: nothing to roll back to: the history has only only. Nothing was changed.`,
  )
})
