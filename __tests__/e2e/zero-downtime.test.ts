/**
 * Zero downtime, measured: constant load through nginx (keep-alive clients, new connections,
 * 2 s slow requests and POSTs) across two blue-green deploys. Not one request may fail; requests
 * on keep-alive connections that nginx closed during a reload are retried once, as browsers do,
 * and reported separately (DESIGN.md "Measuring zero downtime").
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { runAction } from '../../test/action-runner.js'
import { addSite, deployInputs, makeRelease, servedVersion } from '../../test/deploy-fixture.js'
import { startLab, type Lab } from '../../test/hosts/index.js'
import { formatLoadReport, moreAnswers, startLoad } from '../../test/load.js'

let lab: Lab

beforeAll(async () => {
  lab = await startLab({ hosts: 1, name: 'zero-downtime' })
})

afterAll(async () => {
  await lab?.stop()
})

it('serves every request while v1 -> v2 -> v3 deploy under load', async () => {
  const host = lab.hosts[0]!
  const deploy = (version: string) =>
    runAction(deployInputs(lab, [host], makeRelease(version), { version }))
  expect((await deploy('v1')).main.outputs.status).toBe('deployed')
  await addSite(host, 'shop')

  const load = startLoad({
    urls: [`http://${host.address}/`],
    keepAliveClients: 4,
    newConnectionClients: 2,
    slowClients: 2,
    slowMs: 2000,
    maxDurationMs: 120_000,
  })
  await moreAnswers(load, 200)
  for (const version of ['v2', 'v3']) {
    const run = await deploy(version)
    expect(run.main.outputs.status).toBe('deployed')
  }
  await moreAnswers(load, 200, 'v3')
  const report = await load.stop()
  console.log(`zero-downtime: ${formatLoadReport(report)}`)

  expect(report.failureSamples).toEqual([])
  expect(report.failed).toBe(0)
  expect(report.requests).toBeGreaterThan(2000)
  expect(Object.keys(report.byVersion).sort()).toEqual(['v1', 'v2', 'v3'])
  expect(await servedVersion(host)).toBe('v3')
})
