/**
 * Every switch back drains the slot it leaves, as a forward switch drains the old one: slow
 * requests still in flight on the new slot when a rolling deploy rolls back (4 hosts, the second
 * batch fails health, on-failure: rollback) or when a canary aborts all finish, under constant
 * load, repeated to catch the race with nginx's old workers; a failed all-or-nothing switch drains
 * the new slot of the host that had switched; and the post step's repair after a run killed
 * mid-canary drains the slot it stops. stop-timeout (1 s) is shorter than a slow request (3 s):
 * a slot stopped without draining is killed with those requests in flight.
 */
import { rmSync } from 'node:fs'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { errorLine, runAction } from '../../test/action-runner.js'
import { addSite, deployInputs, makeRelease, servedVersion } from '../../test/deploy-fixture.js'
import { startLab, type Lab, type LabHost } from '../../test/hosts/index.js'
import { formatLoadReport, startLoad, type LoadReport } from '../../test/load.js'

const ROLLBACKS = 10
const CANARY_ABORTS = 5
const KILLED_RUNS = 3
const FAILED_SWITCHES = 3
const SLOW_MS = 3000

let lab: Lab
/** The first batch (the canary hosts too): the load goes through their nginx. */
let front: LabHost[]
const releases: string[] = []

function release(version: string, behaviour?: Record<string, unknown>): string {
  const dir = makeRelease(version, behaviour)
  releases.push(dir)
  return dir
}

function inputs(on: LabHost[], path: string, version: string, extra: Record<string, string>) {
  return deployInputs(lab, on, path, {
    version,
    'stop-timeout': '1s',
    'drain-timeout': '10s',
    ...extra,
  })
}

beforeAll(async () => {
  lab = await startLab({ hosts: 4, name: 'switch-back-drain' })
  front = lab.hosts.slice(0, 2)
  const first = await runAction(inputs(lab.hosts, release('v1'), 'v1', {}))
  expect(errorLine(first.main.log)).toBe('')
  // The site writes the canary log, so the canary judges on evidence whatever the gate requires.
  await Promise.all(lab.hosts.map((h) => addSite(h, 'shop', { canaryLog: true })))
  // A request cut by a stop fails instead of being retried on the other server of a canary
  // upstream (nginx retries a cut GET; a POST it would not).
  await Promise.all(
    front.map((h) =>
      h.sh(`echo 'proxy_next_upstream off;' > /etc/nginx/conf.d/no-retry.conf && nginx -s reload`),
    ),
  )
})

afterAll(async () => {
  await lab?.stop()
  for (const dir of releases) rmSync(dir, { recursive: true, force: true })
})

/**
 * Load through the first batch's nginx, slow requests always in flight on whatever slot serves.
 * Empties the green slot's log first (green is idle), for expectStoppedIdle.
 */
async function load() {
  await Promise.all(front.map((h) => h.sh(': > /srv/shop/logs/green.log')))
  return startLoad({
    urls: front.map((h) => `http://${h.address}/`),
    keepAliveClients: 4,
    newConnectionClients: 2,
    slowClients: 6,
    slowMs: SLOW_MS,
    maxDurationMs: 300_000,
  })
}

/**
 * The new (green) slot was stopped `times` times since load() and never had a request in flight
 * any more: the sample app logs `SIGTERM: draining <n> connections (<m> requests in flight)`.
 */
async function expectStoppedIdle(times: number): Promise<void> {
  for (const host of front) {
    const { stdout } = await host.sh(`grep -h 'SIGTERM: draining' /srv/shop/logs/green.log || true`)
    const lines = stdout.split('\n').filter((l) => l !== '')
    expect(lines.length, `${host.address}: ${stdout}`).toBe(times)
    for (const line of lines) expect(line).toMatch(/\(0 requests in flight\)$/)
  }
}

function expectNoFailure(report: LoadReport, what: string, version: string): void {
  console.log(`${what}: ${formatLoadReport(report)}`)
  expect(report.failureSamples).toEqual([])
  expect(report.failed).toBe(0)
  // The new version did take traffic (slow requests among it) before each switch back.
  expect(report.byVersion[version] ?? 0).toBeGreaterThan(0)
}

it(`drains the new slots on ${ROLLBACKS} rolling rollbacks under load: 0 failed`, async () => {
  // Batch 2 cannot start: something else holds its idle (green) slot's port.
  const squat = `echo 'server { listen 127.0.0.1:3002; return 503; }' > /etc/nginx/conf.d/squat.conf && nginx -s reload`
  await Promise.all(lab.hosts.slice(2).map((h) => h.sh(squat)))
  const v2 = release('v2')
  const running = await load()
  try {
    for (let i = 0; i < ROLLBACKS; i++) {
      const run = await runAction(
        inputs(lab.hosts, v2, 'v2', { strategy: 'rolling', 'batch-size': '2' }),
      )
      expect(run.main.outputs.status).toBe('failed')
      const error = errorLine(run.main.log)
      expect(error).toMatch(/\] start green: green-port 3002 is taken: /)
      expect(error).toContain(
        'The 2 host(s) that had switched were rolled back (on-failure: rollback)',
      )
    }
  } finally {
    const report = await running.stop()
    await Promise.all(
      lab.hosts.slice(2).map((h) => h.sh('rm -f /etc/nginx/conf.d/squat.conf && nginx -s reload')),
    )
    expectNoFailure(report, `${ROLLBACKS} rolling rollbacks`, 'v2')
  }
  expect(await Promise.all(lab.hosts.map(servedVersion))).toEqual(lab.hosts.map(() => 'v1'))
  await expectStoppedIdle(ROLLBACKS)
}, 400_000)

it(`drains the new slots on ${CANARY_ABORTS} canary aborts under load: 0 failed`, async () => {
  // Healthy long enough to take its share of the traffic, then /health fails: the canary aborts.
  const v3 = release('v3', { unhealthyAfterMs: 5000 })
  const running = await load()
  const errors: string[] = []
  try {
    for (let i = 0; i < CANARY_ABORTS; i++) {
      const run = await runAction(
        inputs(front, v3, 'v3', {
          strategy: 'canary',
          'canary-weight': '50,100',
          'canary-step-duration': '60s',
        }),
      )
      expect(run.main.outputs.status).toBe('failed')
      errors.push(errorLine(run.main.log))
      expect(errors.at(-1)).toContain('health check failed 2 times in a row')
    }
  } finally {
    const report = await running.stop()
    expectNoFailure(report, `${CANARY_ABORTS} canary aborts`, 'v3')
  }
  await expectStoppedIdle(CANARY_ABORTS)
  for (const error of errors) expect(error).toContain('the new slots were drained and stopped.')
  expect(await Promise.all(front.map(servedVersion))).toEqual(['v1', 'v1'])
}, 300_000)

it(`the post step drains the new slot it stops after ${KILLED_RUNS} runs killed mid-canary: 0 failed`, async () => {
  const v4 = release('v4')
  const running = await load()
  const posts: string[] = []
  try {
    for (let i = 0; i < KILLED_RUNS; i++) {
      const run = await runAction(
        inputs(front, v4, 'v4', {
          strategy: 'canary',
          'canary-weight': '50,100',
          'canary-step-duration': '60s',
        }),
        { killAfterMs: 10_000 },
      )
      expect(run.main.exitCode).toBeNull()
      expect(run.post.exitCode, run.post.log).toBe(0)
      posts.push(run.post.log)
    }
  } finally {
    const report = await running.stop()
    expectNoFailure(report, `${KILLED_RUNS} runs killed mid-canary`, 'v4')
  }
  await expectStoppedIdle(KILLED_RUNS)
  for (const log of posts) {
    for (const host of front) {
      expect(log).toContain(
        `post: [${host.address}] nginx sends traffic to the live blue slot again; stopped the green slot the run had started`,
      )
    }
  }
  expect(await Promise.all(front.map(servedVersion))).toEqual(['v1', 'v1'])
}, 300_000)

it(`a failed all-or-nothing switch drains the new slot that took traffic, ${FAILED_SWITCHES} times: 0 failed`, async () => {
  const [switched, stuck] = front as [LabHost, LabHost]
  // The second host's reload "succeeds" without reloading: its switch check fails after 10 s,
  // while the first host already sends its traffic to the new slot; both switch back.
  await stuck.sh('touch /srv/noreload')
  const v5 = release('v5')
  const running = await load()
  const errors: string[] = []
  try {
    for (let i = 0; i < FAILED_SWITCHES; i++) {
      const run = await runAction(
        inputs(front, v5, 'v5', {
          'nginx-reload-command': 'if [ -e /srv/noreload ]; then exit 0; fi; nginx -s reload',
        }),
      )
      expect(run.main.outputs.status).toBe('failed')
      errors.push(errorLine(run.main.log))
    }
  } finally {
    const report = await running.stop()
    await stuck.sh('rm -f /srv/noreload')
    expectNoFailure(report, `${FAILED_SWITCHES} failed switches`, 'v5')
  }
  await expectStoppedIdle(FAILED_SWITCHES)
  for (const error of errors) {
    expect(error).toContain(`[${stuck.address}] switch: verify: after the reload, nginx did not`)
  }
  expect(await Promise.all([switched, stuck].map(servedVersion))).toEqual(['v1', 'v1'])
}, 300_000)
