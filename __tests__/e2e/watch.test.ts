/**
 * `watch` on real test hosts with the built bundle: after the switch, the new version's real
 * traffic is judged while the previous slot stays warm. A release that fails half of `/` behind a
 * passing health check is switched back within `watch` + 5 s, with no failed request after the
 * switch back, on 1 host, on 3 hosts blue-green and on a 4-host rolling deploy; a good release
 * passes; a watch without evidence fails closed; a run killed mid-watch is repaired by the post
 * step. The sites inherit the action's access log (zero config).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  decodeCommandValue,
  errorLine,
  runAction,
  type ActionRun,
} from '../../test/action-runner.js'
import {
  addSite,
  deployInputs,
  hostState,
  listening,
  makeRelease,
  servedVersion,
} from '../../test/deploy-fixture.js'
import { startLab, type Lab, type LabHost } from '../../test/hosts/index.js'
import { formatLoadReport, moreAnswers, startLoad, type LoadReport } from '../../test/load.js'
import { waitFor } from '../../test/wait.js'

let lab: Lab
let hosts: LabHost[]

/** Fails half of the requests to `/`; `/health` and `/version` answer as usual. */
const HALF_FAILING = { errorRate: 0.5, errorPath: '/' }
const WATCH_MS = 10_000

beforeAll(async () => {
  lab = await startLab({ hosts: 4, name: 'watch' })
  hosts = lab.hosts
  const first = await runAction(deployInputs(lab, hosts, makeRelease('v1'), { version: 'v1' }))
  expect(first.main.outputs.status, first.main.log).toBe('deployed')
  for (const host of hosts) await addSite(host, 'shop')
})

afterAll(async () => {
  await lab?.stop()
})

function deploy(
  on: LabHost[],
  version: string,
  behaviour?: Record<string, unknown>,
  overrides: Record<string, string> = {},
  options: { killAfterMs?: number } = {},
): Promise<ActionRun> {
  return runAction(
    deployInputs(lab, on, makeRelease(version, behaviour), {
      version,
      watch: `${WATCH_MS / 1000}s`,
      ...overrides,
    }),
    options,
  )
}

/**
 * When the hosts served `version` (GET /version on each every 50 ms, apart from the load): the
 * first and the last time it was seen, in ms since the epoch.
 */
function versionSeen(on: LabHost[], version: string) {
  let first: number | undefined
  let last: number | undefined
  let running = true
  const poll = async (host: LabHost) => {
    while (running) {
      if ((await servedVersion(host)) === version) {
        const now = Date.now()
        first ??= now
        last = now
      }
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  const polls = on.map(poll)
  return {
    stop: async () => {
      running = false
      await Promise.all(polls)
      return { first, last }
    },
  }
}

interface Watched {
  run: ActionRun
  /** The load over the whole run. */
  load: LoadReport
  /** Failed requests of the load once the run ended (the switch back was done). */
  failedAfter: number
  /** From the first to the last answer of the new version (ms); undefined: never served. */
  servedMs: number | undefined
}

/** Runs a deploy of `version` under load on `on`, watching when the hosts serve it. */
async function underLoad(on: LabHost[], version: string, run: () => Promise<ActionRun>) {
  const load = startLoad({
    urls: on.map((h) => `http://${h.address}/`),
    keepAliveClients: 4,
    newConnectionClients: 2,
    slowClients: 1,
    slowMs: 1000,
    maxDurationMs: 150_000,
  })
  await moreAnswers(load, 100)
  const seen = versionSeen(on, version)
  const result = await run()
  const { first, last } = await seen.stop()
  const atEnd = load.snapshot().failed
  await moreAnswers(load, 200)
  const report = await load.stop()
  const servedMs = first === undefined || last === undefined ? undefined : last - first
  console.log(
    `watch ${version} on ${on.length} host(s): ${result.main.outputs.status}, ` +
      `${version} served for ${servedMs ?? '-'} ms; load: ${formatLoadReport(report)}`,
  )
  return { run: result, load: report, failedAfter: report.failed - atEnd, servedMs } as Watched
}

/** The run's error as the user reads it (the workflow command encodes %, CR and LF). */
function errorOf(run: ActionRun): string {
  return decodeCommandValue(errorLine(run.main.log))
}

/**
 * Every host serves `version` from the slot state.json names live, and the other slot is
 * stopped (a new slot the watch rejected, or the old one after a watch that passed).
 */
async function expectServing(on: LabHost[], version: string): Promise<void> {
  for (const host of on) {
    expect(await servedVersion(host)).toBe(version)
    const state = (await hostState(host)) as {
      liveSlot: 'blue' | 'green'
      slots: Record<string, { version: string }>
    }
    expect(state.slots[state.liveSlot]?.version).toBe(version)
    const [live, idle] = state.liveSlot === 'blue' ? [3001, 3002] : [3002, 3001]
    expect(await listening(host, live)).toBe(true)
    expect(await listening(host, idle)).toBe(false)
  }
}

/**
 * A breach: the run failed with watch-verdict `breached`, the new version served for at most
 * `watch` + 5 s, only its own 500 answers failed (no 502, no reset: the switch back lost no
 * request), and none after the run.
 */
function expectSwitchedBack(w: Watched): void {
  expect(w.run.main.exitCode).toBe(1)
  expect(w.run.main.outputs.status).toBe('failed')
  expect(w.run.main.outputs['watch-verdict']).toBe('breached')
  expect(w.servedMs).toBeDefined()
  expect(w.servedMs!).toBeLessThanOrEqual(WATCH_MS + 5000)
  expect(Object.keys(w.load.failuresByKind)).toEqual(['500'])
  expect(w.failedAfter).toBe(0)
  const error = errorOf(w.run)
  expect(error).toContain('Watch breached:')
  expect(error).toContain('above watch-max-error-rate 5%')
  expect(error).toContain('Every watched host is back on the previous version')
  expect(w.run.main.summary).toMatch(
    /\| [\d,]+ \| [\d,]+ \| [\d.]+% \| [^|]+ \| [^|]+ \| ❌ breached \|/,
  )
  expect(w.run.main.summary).toContain('First 5xx answers of the new version: 500 on ')
  // Nothing was left half-done for the post step.
  expect(w.run.post.log).not.toContain('repairing')
}

describe('blue-green', () => {
  it('one host: a release failing half of / is switched back; a fixed rerun of the version deploys', async () => {
    const host = hosts[0]!
    const before = await hostState(host)
    const w = await underLoad([host], 'v2', () => deploy([host], 'v2', HALF_FAILING))
    expectSwitchedBack(w)
    await expectServing([host], 'v1')
    expect(await hostState(host)).toEqual(before)

    // The version never went live: the same version, fixed, deploys (its upload replaces it).
    const fixed = await deploy([host], 'v2', {}, { watch: '0s' })
    expect(fixed.main.outputs.status, errorOf(fixed)).toBe('deployed')
    await expectServing([host], 'v2')
  })

  it('three hosts: all of them go back together', async () => {
    const three = hosts.slice(0, 3)
    const before = await Promise.all(three.map((h) => servedVersion(h)))
    const w = await underLoad(three, 'v3', () => deploy(three, 'v3', HALF_FAILING))
    expectSwitchedBack(w)
    for (const [i, host] of three.entries()) await expectServing([host], before[i]!)
  })

  it('a good release passes the watch, with the heartbeat, the summary row and the output', async () => {
    const host = hosts[0]!
    const w = await underLoad([host], 'v4', () => deploy([host], 'v4'))
    expect(w.run.main.outputs.status, errorOf(w.run)).toBe('deployed')
    expect(w.run.main.outputs['watch-verdict']).toBe('passed')
    expect(w.load.failed).toBe(0)
    // It served for the whole watch, and on: the previous slot was kept warm only during it.
    expect(w.run.main.log).toMatch(/Watch: \d+ requests, 0 5xx \(0\.0%\), p99 \d/)
    expect(w.run.main.summary).toMatch(
      /\| watch \| [\d,]+ \| 0 \| 0% \| [^|]+ \| 1\d(\.\d)? s \| ✅ passed \|/,
    )
    await expectServing([host], 'v4')
  })

  it('a release that answers / in 300 ms is switched back on watch-max-latency', async () => {
    const host = hosts[0]!
    const w = await underLoad([host], 'v4b', () =>
      deploy([host], 'v4b', { rootDelayMs: 300 }, { 'watch-max-latency': '100ms' }),
    )
    expect(w.run.main.outputs['watch-verdict']).toBe('breached')
    expect(w.load.failed).toBe(0)
    expect(w.servedMs!).toBeLessThanOrEqual(WATCH_MS + 5000)
    expect(errorOf(w.run)).toMatch(
      /Watch breached: the new version's p99 response time was [\d.]+ m?s over \d+ requests, above watch-max-latency 100 ms/,
    )
    await expectServing([host], 'v4')
  })

  it('no request during the watch: it fails closed and switches back', async () => {
    const host = hosts[0]!
    const run = await deploy([host], 'v5', {}, { watch: '1s' })
    expect(run.main.outputs.status).toBe('failed')
    expect(run.main.outputs['watch-verdict']).toBe('no-evidence')
    const error = errorOf(run)
    expect(error).toContain('no evidence, so the watch fails closed')
    expect(error).toContain('Every watched host is back on the previous version (v4)')
    expect(run.main.summary).toContain('❌ no evidence')
    await expectServing([host], 'v4')
  })

  it('judged by watch-check-command only (watch-max-error-rate: off): a non-zero exit switches back', async () => {
    const host = hosts[0]!
    const run = await deploy(
      [host],
      'v5b',
      {},
      {
        watch: '2s',
        'watch-max-error-rate': 'off',
        'watch-check-command':
          'echo "checked $APP_VERSION on $DEPLOY_HOSTS after $PREVIOUS_VERSION"; exit 3',
      },
    )
    expect(run.main.outputs['watch-verdict']).toBe('breached')
    expect(errorOf(run)).toContain(
      `Watch breached: watch-check-command exited 3:\nchecked v5b on ${host.address} after v4`,
    )
    expect(run.main.summary).toMatch(/\| watch \| – \| – \| – \| – \| [^|]+ \| ❌ breached \|/)
    await expectServing([host], 'v4')
  })

  it('a run killed mid-watch: the post step puts the warm previous slot back and stops the new one', async () => {
    const host = hosts[0]!
    const running = deploy([host], 'v6', {}, { watch: '60s' }, { killAfterMs: 20_000 })
    // The new version serves (the watch is on) before the kill.
    await waitFor(async () => (await servedVersion(host)) === 'v6', {
      what: 'v6 to serve on the watched host',
      timeoutMs: 20_000,
    })
    const killed = await running
    expect(killed.main.exitCode).toBeNull()
    expect(killed.main.log).toContain('Watch: judging')
    expect(killed.post.exitCode).toBe(0)
    expect(killed.post.log).toMatch(
      new RegExp(
        `post: \\[${host.address}\\] nginx sends traffic to the live (blue|green) slot again; stopped the (blue|green) slot the run had started`,
      ),
    )
    await expectServing([host], 'v4')
  }, 120_000)
})

describe('rolling', () => {
  it('four hosts, two batches: a good release is watched after each batch', async () => {
    const w = await underLoad(hosts, 'v7', () =>
      deploy(hosts, 'v7', {}, { strategy: 'rolling', 'batch-size': '2', watch: '3s' }),
    )
    expect(w.run.main.outputs.status, errorOf(w.run)).toBe('deployed')
    expect(w.run.main.outputs['watch-verdict']).toBe('passed')
    expect(w.load.failed).toBe(0)
    expect(w.run.main.summary).toMatch(
      /\| batch 1 \| [\d,]+ \| 0 \| 0% \| [^|]+ \| [^|]+ \| ✅ passed \|/,
    )
    expect(w.run.main.summary).toMatch(
      /\| batch 2 \| [\d,]+ \| 0 \| 0% \| [^|]+ \| [^|]+ \| ✅ passed \|/,
    )
    await expectServing(hosts, 'v7')
  })

  it('four hosts: the first batch breaches, goes back, and the next never switches', async () => {
    const w = await underLoad(hosts, 'v8', () =>
      deploy(hosts, 'v8', HALF_FAILING, { strategy: 'rolling', 'batch-size': '2' }),
    )
    expectSwitchedBack(w)
    expect(w.run.main.summary).not.toContain('| batch 2 |')
    await expectServing(hosts, 'v7')
  })
})
