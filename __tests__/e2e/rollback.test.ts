/** Rollback end to end: warm (instant), cold (start from releases/), rollback-to, and refusals. */
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
  // The summary says what was asked for: a rollback, not a deploy of the commit.
  expect(run.main.summary).toMatch(/^### ❌ Rolling back shop to v9 on 1 host failed after /)
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

it('starts and stops an old release with the commands it was deployed with', async () => {
  const app = { 'app-name': 'rewind', 'blue-port': '5101', 'green-port': '5102' }
  const marker = '"$DEPLOY_PATH/started-$APP_VERSION"'
  const startA = `echo a > ${marker}; exec node server.js`
  const startB = `echo b > ${marker}; exec node server.js`
  const stopB = `echo "$APP_VERSION" >> "$DEPLOY_PATH/stopped-by-b"; kill -TERM "$(cat "$DEPLOY_PATH/.deploy/$SLOT.pid")"`
  const release = (version: string, commands: Record<string, string>) =>
    runAction(deployInputs(lab, [host], makeRelease(version), { version, ...app, ...commands }))
  const rollbackOnly = (extra: Record<string, string> = {}) =>
    runAction(deployInputs(lab, [host], '.', { ...app, 'start-command': '', ...extra }))
  const slotAnswers = async (port: string) =>
    (await host.sh(`curl -s --max-time 3 http://127.0.0.1:${port}/version || true`)).stdout.trim()

  expect((await release('v1', { 'start-command': startA })).main.outputs.status).toBe('deployed')
  const v2 = await release('v2', { 'start-command': startB, 'stop-command': stopB })
  expect(v2.main.outputs.status).toBe('deployed')
  await host.sh('rm -f /srv/rewind/started-v1 /srv/rewind/stopped-by-b')

  // No start-command: v1 starts with A (recorded with it), v2 stops with its own stop-command.
  const back = await rollbackOnly({ rollback: 'true' })
  expect(errorLine(back.main.log)).toBe('')
  expect(back.main.outputs).toMatchObject({
    status: 'rolled-back',
    version: 'v1',
    'live-slot': 'blue',
  })
  expect((await host.sh('cat /srv/rewind/started-v1')).stdout.trim()).toBe('a')
  expect((await host.sh('cat /srv/rewind/stopped-by-b')).stdout.trim()).toBe('v2')
  expect(await slotAnswers('5101')).toBe('v1')
  const history = (await hostState(host, 'rewind')).history as {
    version: string
    commands?: unknown
  }[]
  expect(history.map((r) => [r.version, r.commands])).toEqual([
    ['v1', { start: startA, stop: '', reload: '' }],
    ['v2', { start: startB, stop: stopB, reload: '' }],
  ])

  // A history entry written before commands were recorded, and no start-command: a clear refusal.
  await host.sh(
    `node -e 'const f="/srv/rewind/.deploy/state.json"; const fs=require("fs"); const s=JSON.parse(fs.readFileSync(f)); for (const r of s.history) delete r.commands; fs.writeFileSync(f, JSON.stringify(s))'`,
  )
  const refused = await rollbackOnly({ 'rollback-to': 'v2' })
  expect(refused.main.exitCode).toBe(1)
  expect(errorLine(refused.main.log)).toContain(
    `[${host.address}] rollback: release v2 was deployed by an older version of this action, which did not record its start-command in state.json, and its slot is not running: give start-command (the command that starts v2) to this rollback. Nothing was changed.`,
  )
  expect(await slotAnswers('5101')).toBe('v1')
  // With start-command given, it stands in (and is recorded from then on).
  const given = await rollbackOnly({ 'rollback-to': 'v2', 'start-command': startB })
  expect(errorLine(given.main.log)).toBe('')
  expect(given.main.outputs).toMatchObject({ status: 'rolled-back', version: 'v2' })
  expect(await slotAnswers('5102')).toBe('v2')
})
