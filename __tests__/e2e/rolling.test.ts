/**
 * Rolling deploys end to end: six app hosts in batches of two behind a load balancer host, with
 * the built bundle; batches switch in order, a failed batch rolls the switched ones back (the
 * version then counts as live where it served), and a request through the load balancer never
 * fails.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeCommandValue, errorLine, runAction } from '../../test/action-runner.js'
import {
  addSite,
  deployInputs,
  hostState,
  makeRelease,
  servedVersion,
  addBalancerSite,
} from '../../test/deploy-fixture.js'
import { startLab, type Lab, type LabHost } from '../../test/hosts/index.js'
import { formatLoadReport, moreAnswers, startLoad } from '../../test/load.js'

let lab: Lab
let apps: LabHost[]
let lb: LabHost

function rollingInputs(version: string, extra: Record<string, string> = {}) {
  return deployInputs(lab, apps, makeRelease(version), {
    version,
    strategy: 'rolling',
    'batch-size': '2',
    'load-balancer': lb.address,
    'known-hosts': lab.knownHosts,
    ...extra,
  })
}

interface HostOutput {
  host: string
  outcome: string
  version: string | null
  seconds: Record<string, number>
  error?: string
}
const hostsOutput = (outputs: Record<string, string>) => JSON.parse(outputs.hosts!) as HostOutput[]
const versions = () => Promise.all(apps.map(servedVersion))

beforeAll(async () => {
  lab = await startLab({ hosts: 7, name: 'rolling' })
  apps = lab.hosts.slice(0, 6)
  lb = lab.hosts[6]!
  const first = await runAction(rollingInputs('v1'))
  expect(errorLine(first.main.log)).toBe('')
  await Promise.all(apps.map((h) => addSite(h, 'shop')))
  await addBalancerSite(lb, 'shop')
})

afterAll(async () => {
  await lab?.stop()
})

describe('rolling', () => {
  it('switches batches of two in host order behind the load balancer, without one failed request', async () => {
    const load = startLoad({
      urls: [`http://${lb.address}/`],
      slowClients: 2,
      maxDurationMs: 120_000,
    })
    await moreAnswers(load, 100)
    const run = await runAction(rollingInputs('v2'))
    await moreAnswers(load, 100, 'v2')
    const report = await load.stop()
    console.log(`rolling under load: ${formatLoadReport(report)}`)
    expect(errorLine(run.main.log)).toBe('')
    expect(run.main.outputs.status).toBe('deployed')
    expect(report.failureSamples).toEqual([])
    expect(report.failed).toBe(0)
    expect(report.requests).toBeGreaterThan(1000)
    expect(report.byVersion.v2).toBeGreaterThan(0)
    expect(await versions()).toEqual(apps.map(() => 'v2'))

    // Each batch switched after the previous one was back in the load balancer.
    expect(run.main.log).toContain(`Batch 1 of 3: ${apps[0]!.address}, ${apps[1]!.address}`)
    const batchLines = run.main.log.split('\n').filter((l) => /^Batch \d of 3/.test(l))
    expect(batchLines.map((l) => l.slice(0, 10))).toEqual([
      'Batch 1 of',
      'Batch 2 of',
      'Batch 3 of',
    ])
    expect(run.main.summary).toContain(`${apps[5]!.address} (batch 3)`)
    const { stdout: lbFile } = await lb.sh('cat /etc/nginx/conf.d/shop.lb.conf')
    expect(lbFile).not.toContain(' down;')
    for (const app of apps) expect(lbFile).toContain(`server ${app.address}:80 max_fails=0;`)
  })

  it('rolls the switched batch back when batch 2 fails, and never starts batch 3', async () => {
    // Batch 2 (hosts 3 and 4) cannot start: something else holds the slot port (blue, for v3).
    await Promise.all(
      [apps[2]!, apps[3]!].map((h) =>
        h.sh(
          `echo 'server { listen 127.0.0.1:3001; return 503; }' > /etc/nginx/conf.d/squat.conf && nginx -s reload`,
        ),
      ),
    )
    try {
      const run = await runAction(rollingInputs('v3'))
      expect(run.main.exitCode).toBe(1)
      expect(run.main.outputs.status).toBe('failed')
      const error = errorLine(run.main.log)
      // The port is checked before the start: nginx there is not this app's, so nothing starts.
      expect(error).toContain(`[${apps[2]!.address}] start blue: blue-port 3001 is taken: pid `)
      expect(error).toMatch(
        /\(nginx: master process [^)]*\)(, pid \d+ \(nginx: worker process\))* listen on it and are not processes of this app/,
      )
      expect(error).toContain('were rolled back (on-failure: rollback)')
      expect(await versions()).toEqual(apps.map(() => 'v2'))
      const outputs = hostsOutput(run.main.outputs)
      expect(outputs.map((h) => h.outcome)).toEqual([
        'reverted',
        'reverted',
        'failed',
        'failed',
        'failed',
        'failed',
      ])
      expect(outputs[2]!.error).toContain('blue-port 3001 is taken')
      // Batch 3 was shipped ahead but never started.
      expect(outputs[4]!.seconds.start).toBeUndefined()
      const { stdout } = await lb.sh('cat /etc/nginx/conf.d/shop.lb.conf')
      expect(stdout).not.toContain(' down;')

      // v3 served on hosts 1 and 2 before the rollback: it went live there, so other content
      // for it is refused (issue 21); state.json says so.
      for (const app of apps.slice(0, 2)) {
        expect((await hostState(app)).switchedBack).toEqual(['v3'])
      }
      const changed = await runAction(
        rollingInputs('v3', { 'release-path': makeRelease('v3', { healthStatus: 200 }) }),
      )
      expect(changed.main.exitCode).toBe(1)
      const refused = decodeCommandValue(errorLine(changed.main.log))
      expect(refused).toContain(
        `[${apps[0]!.address}] ship: release v3 is already on the host with different content`,
      )
      expect(refused).toContain('A version that went live must never change')
      expect(await versions()).toEqual(apps.map(() => 'v2'))
    } finally {
      await Promise.all(
        [apps[2]!, apps[3]!].map((h) =>
          h.sh('rm -f /etc/nginx/conf.d/squat.conf && nginx -s reload'),
        ),
      )
    }
  })

  it('with on-failure: stop, leaves the switched batch and says which host runs what', async () => {
    await apps[2]!.sh(
      `echo 'server { listen 127.0.0.1:3001; return 503; }' > /etc/nginx/conf.d/squat.conf && nginx -s reload`,
    )
    try {
      const run = await runAction(rollingInputs('v4', { 'on-failure': 'stop' }))
      expect(run.main.exitCode).toBe(1)
      const error = decodeCommandValue(errorLine(run.main.log))
      expect(error).toContain('on-failure is stop: the fleet is left on mixed versions.')
      expect(error).toContain(`\n  ${apps[0]!.address}: v4 (deployed)`)
      expect(error).toContain(`\n  ${apps[2]!.address}: v2 (failed)`)
      expect(await versions()).toEqual(['v4', 'v4', 'v2', 'v2', 'v2', 'v2'])
    } finally {
      await apps[2]!.sh('rm -f /etc/nginx/conf.d/squat.conf && nginx -s reload')
    }
  })

  it('switches nothing when a host is unreachable from the start', async () => {
    const before = await versions()
    await apps[5]!.stop()
    try {
      const run = await runAction(rollingInputs('v5', { 'connect-timeout': '2s' }))
      expect(run.main.exitCode).toBe(1)
      expect(errorLine(run.main.log)).toContain(`[${apps[5]!.address}] connect:`)
      // No ship line, for one host or for the fleet: nothing was uploaded.
      expect(run.main.log).not.toMatch(/^(\[.+?\] )?ship[:,]/m)
      // Nothing changed on the reachable hosts.
      expect(await versions()).toEqual([...before.slice(0, 5), expect.stringMatching(/^error/)])
    } finally {
      await apps[5]!.start()
    }
  })

  it('refuses a batch that would empty the load balancer, before touching any host', async () => {
    const run = await runAction(rollingInputs('v6', { 'batch-size': '100%' }))
    expect(run.main.exitCode).toBe(1)
    expect(errorLine(run.main.log)).toContain(
      "Input 'batch-size': 6 of 6 host(s) per batch would take every server out of the load balancer at once",
    )
    // No lock line: no host was locked.
    expect(run.main.log).not.toMatch(/^(\[.+?\] )?lock and read state[:,]/m)
  })
})
