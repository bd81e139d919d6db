/** Blue-green deploys end to end: the built bundle, run like the runner, against real hosts. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runAction } from '../../test/action-runner.js'
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

const errorLine = (log: string) => log.split('\n').find((l) => l.startsWith('::error::')) ?? ''

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
    const { stdout: current } = await host.sh(
      'readlink /srv/shop/current; stat -c %a /srv/shop/shared/.env',
    )
    expect(current).toBe('releases/v3\n600\n')
    const hosts = JSON.parse(v3.main.outputs.hosts!) as { host: string; outcome: string }[]
    expect(hosts).toMatchObject([{ host: host.address, outcome: 'deployed' }])
    expect(v3.main.summary).toContain('mermaid')
    expect(v3.main.summary).toContain('rollback')
  })
})
