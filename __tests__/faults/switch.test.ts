/**
 * Fault injection on one host (issue 8), built bundle against real sshd and nginx: whatever goes
 * wrong between the health check and the switch, or in the host's files, every case ends with one
 * version fully serving, the host consistent (test/consistency.ts), the lock free, and an error
 * naming host and step. Cases already covered elsewhere are listed in docs/reliability.md.
 */
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  decodeCommandValue,
  errorLine,
  runAction,
  type ActionRun,
} from '../../test/action-runner.js'
import { consistencyProblems } from '../../test/consistency.js'
import {
  addSite,
  deployInputs,
  hostState,
  makeRelease,
  servedVersion,
} from '../../test/deploy-fixture.js'
import { expectFailedRun } from '../../test/faults.js'
import { startLab, type Lab, type LabHost } from '../../test/hosts/index.js'
import { startLoad } from '../../test/load.js'

let lab: Lab
let host: LabHost
let release = 0

/** A deploy of a new version `<name>-<n>` to `target`. */
async function deploy(
  target: LabHost,
  name: string,
  overrides: Record<string, string> = {},
  behaviour?: Record<string, unknown>,
  extraFile?: Buffer,
): Promise<{ version: string; run: ActionRun }> {
  const version = `${name}-${++release}`
  const dir = makeRelease(version, behaviour)
  if (extraFile) writeFileSync(join(dir, 'blob.bin'), extraFile)
  const run = await runAction(deployInputs(lab, [target], dir, { version, ...overrides }))
  return { version, run }
}

beforeAll(async () => {
  lab = await startLab({ hosts: 2, name: 'faults-switch' })
  host = lab.hosts[0]!
  const first = await deploy(host, 'v')
  expect(errorLine(first.run.main.log)).toBe('')
  await addSite(host, 'shop')
})

afterAll(async () => {
  await lab?.stop()
})

describe('between the health check and the switch', () => {
  it('the new version passes its health check, then dies before the switch: nothing switches', async () => {
    const live = await servedVersion(host)
    const load = startLoad({ urls: [`http://${host.address}/`], slowClients: 0, pauseMs: 20 })
    // Healthy at once, gone 3 s later, while a 6 s smoke test runs: the switch comes after.
    const { run } = await deploy(
      host,
      'dies',
      { 'smoke-command': 'sleep 6' },
      { exitAfterMs: 3000 },
    )
    const report = await load.stop()
    const error = expectFailedRun(run, host, /switch/)
    expect(error).toContain('is no longer running; nothing was switched')
    expect(error).toContain('crashing 3000 ms after listening')
    expect(report.failureSamples).toEqual([])
    expect(await consistencyProblems(host, live)).toEqual([])
  })

  it('the reload command exits 0 but nginx does not reload: the switch is undone', async () => {
    const live = await servedVersion(host)
    const { run } = await deploy(host, 'noreload', { 'nginx-reload-command': 'true' })
    const error = expectFailedRun(run, host, /switch: verify/)
    expect(error).toContain(
      'after the reload, nginx did not send requests where expected within 10s (nginx answered 200 from 127.0.0.1:',
    )
    expect(await consistencyProblems(host, live)).toEqual([])
  })

  it('the reload command fails: the previous upstream file is back, nginx reloaded on it', async () => {
    const live = await servedVersion(host)
    await host.sh('touch /srv/fail-reload')
    const { run } = await deploy(host, 'reloadfails', {
      'nginx-reload-command':
        'if [ -f /srv/fail-reload ]; then rm /srv/fail-reload; echo "reload refused" >&2; exit 1; fi; nginx -s reload',
    })
    const error = expectFailedRun(run, host, /switch: reload nginx/)
    expect(decodeCommandValue(error)).toContain('command exited 1:\nreload refused')
    expect(await consistencyProblems(host, live)).toEqual([])
  })
})

describe("the host's files", () => {
  it('a missing current symlink is put back by the next deploy', async () => {
    await host.sh('rm /srv/shop/current')
    const { version, run } = await deploy(host, 'nocurrent')
    expect(errorLine(run.main.log)).toBe('')
    expect(await consistencyProblems(host, version)).toEqual([])
  })

  it('a corrupt state.json is refused with how to repair it; the advice works', async () => {
    const live = await servedVersion(host)
    await host.sh('truncate -s 40 /srv/shop/.deploy/state.json')
    const { run } = await deploy(host, 'corrupt')
    const error = expectFailedRun(run, host, /read state/)
    expect(error).toContain('/srv/shop/.deploy/state.json is corrupt: not valid JSON (')
    expect(error).toContain(
      'Nothing was changed. Repair or restore the file (a copy of the last good one is /srv/shop/.deploy/state.json.bak)',
    )
    // No ship line, for one host or for the fleet: nothing was uploaded.
    expect(run.main.log).not.toMatch(/^(\[.+?\] )?ship[:,]/m)
    expect(await servedVersion(host)).toBe(live)
    // As the error says: restore the copy. The host is then exactly as before.
    await host.sh('cp /srv/shop/.deploy/state.json.bak /srv/shop/.deploy/state.json')
    expect(await consistencyProblems(host, live)).toEqual([])
    const next = await deploy(host, 'repaired')
    expect(errorLine(next.run.main.log)).toBe('')
    expect(await consistencyProblems(host, next.version)).toEqual([])
    const { history } = (await hostState(host)) as { history: unknown[] }
    expect(history.slice(0, 2)).toMatchObject([{ version: next.version }, { version: live }])
  })

  it('the disk fills up while extracting: no half release is left, the space comes back', async () => {
    // host2: its deploy path is a 6 MB tmpfs; a 4 MB release uploads, but cannot extract too.
    const small = lab.hosts[1]!
    await small.sh('mkdir -p /srv/shop && mount -t tmpfs -o size=6m tmpfs /srv/shop')
    const first = await deploy(small, 'small')
    expect(errorLine(first.run.main.log)).toBe('')
    await addSite(small, 'shop')
    const { run } = await deploy(small, 'big', {}, undefined, randomBytes(4 << 20))
    const error = expectFailedRun(run, small, /extract release/)
    expect(error).toContain('No space left on device')
    expect(await consistencyProblems(small, first.version)).toEqual([])
    const { stdout } = await small.sh('df -k --output=used /srv/shop | tail -1')
    expect(Number(stdout)).toBeLessThan(1024)
    const next = await deploy(small, 'small')
    expect(errorLine(next.run.main.log)).toBe('')
    expect(await consistencyProblems(small, next.version)).toEqual([])
  })
})
