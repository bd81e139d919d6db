/**
 * A host with neither curl nor GNU Wget (README "Host setup": both optional), end to end with the
 * bundle: the health loop on the host reports that it has no client, and the health checks and the
 * switch's verify go through the SSH tunnel instead; a deploy under load and a rollback work as on
 * any host, with 0 failed requests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorLine, runAction } from '../../test/action-runner.js'
import { addSite, deployInputs, makeRelease, servedVersion } from '../../test/deploy-fixture.js'
import { startLab, type Lab, type LabHost } from '../../test/hosts/index.js'
import { startLoad } from '../../test/load.js'

let lab: Lab
let host: LabHost

beforeAll(async () => {
  lab = await startLab({ hosts: 1, name: 'no-http-client' })
  host = lab.hosts[0]!
  // The host's own mount namespace: its sshd's sessions no longer find either client.
  await host.sh(
    'for c in curl wget; do p=$(command -v $c) && mount --bind /dev/null "$p"; done; true',
  )
})

afterAll(async () => {
  await lab?.stop()
})

const deploy = (inputs: Record<string, string>) => runAction({ ...inputs, 'drain-timeout': '5s' })

describe('a host without curl or wget', () => {
  it('has neither client for the scripts the action runs', async () => {
    const { stdout } = await host.sh(
      'command -v curl || echo no-curl; wget --version 2>/dev/null | grep -q "GNU Wget" || echo no-wget',
    )
    expect(stdout).toBe('no-curl\nno-wget\n')
  })

  it('deploys through the SSH tunnel, under load with 0 failed requests, and rolls back', async () => {
    const v1 = await deploy(deployInputs(lab, [host], makeRelease('v1'), { version: 'v1' }))
    expect(errorLine(v1.main.log)).toBe('')
    await addSite(host, 'shop')

    const load = startLoad({ urls: [`http://${host.address}/`] })
    const v2 = await deploy(deployInputs(lab, [host], makeRelease('v2'), { version: 'v2' }))
    const rollback = await deploy(
      deployInputs(lab, [host], '.', { 'release-path': '.', rollback: 'true' }),
    )
    const report = await load.stop()

    expect(errorLine(v2.main.log)).toBe('')
    expect(v2.main.outputs).toMatchObject({ status: 'deployed', version: 'v2' })
    // The host's loop found no client; the checks went through the tunnel.
    expect(v2.main.log).toContain('RESULT no-client 0')
    expect(errorLine(rollback.main.log)).toBe('')
    expect(rollback.main.outputs).toMatchObject({ status: 'rolled-back', version: 'v1' })
    expect(await servedVersion(host)).toBe('v1')
    expect(report.failed, JSON.stringify(report)).toBe(0)
    expect(report.byVersion.v2).toBeGreaterThan(0)
  })
})
