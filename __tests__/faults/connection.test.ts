/**
 * Fault injection on the SSH connection (issue 8), built bundle against real sshd and nginx: the
 * connections of a run drop during the upload, the start and the switch (every per-connection
 * sshd process of the host is killed at a marker), and a host goes down between the batches of a
 * rolling deploy. The main step cannot reach the host any more; the post step reconnects and
 * repairs it. Every case ends with one version fully serving, the hosts consistent
 * (test/consistency.ts), the lock free, and an error naming host and step.
 */
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorLine, runAction, type ActionRun } from '../../test/action-runner.js'
import { consistencyProblems } from '../../test/consistency.js'
import {
  addSite,
  deployInputs,
  hostState,
  makeRelease,
  servedVersion,
} from '../../test/deploy-fixture.js'
import { dropSshConnections, expectFailedRun, freezeSshd, waitOnHost } from '../../test/faults.js'
import { startLab, type Lab, type LabHost } from '../../test/hosts/index.js'
import { letTimePass } from '../../test/wait.js'

let lab: Lab
let hosts: LabHost[]
let release = 0

function inputs(
  name: string,
  overrides: Record<string, string> = {},
  behaviour?: Record<string, unknown>,
  extraFile?: Buffer,
): { version: string; inputs: Record<string, string> } {
  const version = `${name}-${++release}`
  const dir = makeRelease(version, behaviour)
  if (extraFile) writeFileSync(join(dir, 'blob.bin'), extraFile)
  return { version, inputs: deployInputs(lab, hosts, dir, { version, ...overrides }) }
}

/**
 * Runs a deploy and, as soon as `marker` (a shell test) holds on the first host, drops every SSH
 * connection to it. Returns the run and the version that served before it.
 */
async function deployAndDrop(
  marker: string,
  run: { version: string; inputs: Record<string, string> },
): Promise<{ live: string; run: ActionRun }> {
  const live = await servedVersion(hosts[0]!)
  const action = runAction(run.inputs)
  await waitOnHost(hosts[0]!, marker)
  expect(await dropSshConnections(hosts[0]!)).toBeGreaterThan(0)
  return { live, run: await action }
}

async function expectAllConsistent(version: string): Promise<void> {
  for (const h of hosts) expect(await consistencyProblems(h, version)).toEqual([])
}

beforeAll(async () => {
  lab = await startLab({ hosts: 2, name: 'faults-ssh' })
  hosts = lab.hosts
  const first = await runAction(inputs('v').inputs)
  expect(errorLine(first.main.log)).toBe('')
  await Promise.all(hosts.map((h) => addSite(h, 'shop')))
})

afterAll(async () => {
  await lab?.stop()
})

describe('the SSH connection drops', () => {
  it('during the upload: nothing starts, the next run clears the partial upload', async () => {
    const big = inputs('upload', {}, undefined, randomBytes(48 << 20))
    const { live, run } = await deployAndDrop('ls /srv/shop/.deploy/incoming/*.tar.gz', big)
    const error = expectFailedRun(run, hosts[0]!, /ship/)
    expect(error).toContain('upload to /srv/shop/.deploy/incoming/')
    expect(error).toContain('failed: the SSH connection was lost')
    expect(run.post.log).not.toContain('post:')
    for (const h of hosts) expect(await servedVersion(h)).toBe(live)
    const next = inputs('after-upload')
    expect(errorLine((await runAction(next.inputs)).main.log)).toBe('')
    await expectAllConsistent(next.version)
  })

  it('during the start: the post step stops the new slots', async () => {
    const idle = (await hostState(hosts[0]!)).liveSlot === 'blue' ? 'green' : 'blue'
    const slow = inputs('start', {}, { bootDelayMs: 4000 })
    const { live, run } = await deployAndDrop(`[ -f /srv/shop/.deploy/${idle}.pid ]`, slow)
    expectFailedRun(run, hosts[0]!, new RegExp(`(start ${idle}|health)`))
    expect(run.post.log).toContain(
      `post: [${hosts[0]!.address}] stopped the ${idle} slot the run had started`,
    )
    await expectAllConsistent(live)
  })

  it('during the switch: the post step puts nginx back on the live slot on every host', async () => {
    const switching = inputs('switch', {
      'nginx-test-command': 'touch /srv/switching; sleep 1; nginx -t',
    })
    await hosts[0]!.sh('rm -f /srv/switching')
    const { live, run } = await deployAndDrop('[ -f /srv/switching ]', switching)
    const error = expectFailedRun(run, hosts[0]!, /switch: install upstream and test nginx/)
    expect(error).toContain('command was cut off (connection lost)')
    expect(run.post.log).toContain(`post: [${hosts[0]!.address}] nginx sends traffic to the live`)
    await expectAllConsistent(live)
  })
})

describe('a host goes down', () => {
  it('between the batches of a rolling deploy: batch 1 is rolled back, host 2 repaired when it is back', async () => {
    const [one, two] = hosts as [LabHost, LabHost]
    const live = await servedVersion(one)
    const rolling = inputs(
      'rolling',
      { strategy: 'rolling', 'batch-size': '1', 'connect-timeout': '30s' },
      { bootDelayMs: 1000 },
    )
    const action = runAction(rolling.inputs)
    await waitOnHost(one, `[ "$(readlink /srv/shop/current)" = releases/${rolling.version} ]`)
    await freezeSshd(two, true)
    await dropSshConnections(two)
    // Back 8 s later: the post step's connection waits for it (connect-timeout 30s).
    const back = letTimePass(8000, 'host 2 stays down while the run fails on it').then(() =>
      freezeSshd(two, false),
    )
    const run = await action
    await back
    const error = expectFailedRun(run, two, /(start green|start blue|health)/)
    expect(error).toContain('were rolled back (on-failure: rollback)')
    await expectAllConsistent(live)
  })
})
