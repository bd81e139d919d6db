/**
 * strategy: canary on real test hosts with the built bundle: weighted steps under load, the
 * traffic share at a step, aborts on 5xx and on failing health, canary by hosts, sticky cookies.
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
import { letTimePass, waitFor } from '../../test/wait.js'

let lab: Lab
let hosts: LabHost[]
const COOKIE = 'shop_session'

beforeAll(async () => {
  lab = await startLab({ hosts: 3, name: 'canary' })
  hosts = lab.hosts
  // Every deploy here sets the sticky cookie, so the site's add_header line always has its variable.
  const first = await deploy(hosts, 'v1', {}, { strategy: 'blue-green' })
  expect(first.main.outputs.status).toBe('deployed')
  for (const host of hosts) await addSite(host, 'shop', { canaryLog: true, stickyCookie: true })
})

afterAll(async () => {
  await lab?.stop()
})

function deploy(
  on: LabHost[],
  version: string,
  behaviour?: Record<string, unknown>,
  overrides: Record<string, string> = {},
): Promise<ActionRun> {
  return runAction(
    deployInputs(lab, on, makeRelease(version, behaviour), {
      version,
      strategy: 'canary',
      'canary-step-duration': '2s',
      'canary-min-requests': '20',
      'canary-sticky-cookie': COOKIE,
      ...overrides,
    }),
  )
}

/** Runs a deploy under load on the given hosts; returns the run and the load report. */
async function underLoad(
  on: LabHost[],
  run: () => Promise<ActionRun>,
): Promise<{ run: ActionRun; load: LoadReport }> {
  const load = startLoad({
    urls: on.map((h) => `http://${h.address}/`),
    keepAliveClients: 4,
    newConnectionClients: 2,
    slowClients: 1,
    slowMs: 1000,
    maxDurationMs: 90_000,
  })
  await moreAnswers(load, 100)
  const result = await run()
  await moreAnswers(load, 100)
  const report = await load.stop()
  console.log(`canary load: ${formatLoadReport(report)}`)
  return { run: result, load: report }
}

/** The sample app's version in `/version` answers, for `count` requests (keep-alive, `parallel` at a time). */
async function versionCounts(
  host: LabHost,
  count: number,
  headers: Record<string, string> = {},
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {}
  const get = () => fetch(`http://${host.address}/version`, { headers }).then((r) => r.text())
  // A keep-alive connection that nginx closed on a reload is retried, as browsers do (the pool
  // may hold more than one such connection right after a reload).
  const retried = async (attempt = 0): Promise<string> =>
    get().catch(async (error: unknown) => {
      if (attempt >= 3) throw error
      await new Promise((r) => setTimeout(r, 100))
      return retried(attempt + 1)
    })
  const one = async () => {
    const version = (await retried()).trim()
    counts[version] = (counts[version] ?? 0) + 1
  }
  for (let i = 0; i < count; i += 10) await Promise.all(Array.from({ length: 10 }, one))
  return counts
}

/**
 * Resolves once the host's upstream file gives the new slot `weight` and nginx runs it: every
 * worker started after the file was written (the reload happened), and no old worker is still
 * shutting down (their keep-alive connections are closed). The step is live.
 */
async function stepLive(host: LabHost, weight: number): Promise<void> {
  await waitFor(async () => (await nginxRunning(host)).includes(` weight=${weight} `), {
    what: `the canary step ${weight}% to go live on ${host.name}`,
    timeoutMs: 20_000,
    intervalMs: 100,
  })
}

/**
 * The upstream file when nginx's workers all run it (see stepLive), else ''. Read in this order:
 * the file, then its mtime, then the workers, so a file replaced meanwhile never passes as run.
 * Worker start times are in clock ticks since boot (10 ms): 10 ms of slack.
 */
async function nginxRunning(host: LabHost): Promise<string> {
  const file = '/etc/nginx/conf.d/shop.upstream.conf'
  const { stdout } = await host.sh(
    `cat ${file} && echo --- || exit 1
read up _ < /proc/uptime
echo "$(date -r ${file} +%s.%N) $(date +%s.%N) $up $(getconf CLK_TCK)"
for w in $(ps --ppid "$(cat /var/lib/nginx/nginx.pid)" -o pid=); do
  echo "$(cut -d' ' -f22 /proc/$w/stat) $(ps -o args= -p $w)"
done`,
    { allowFail: true },
  )
  const lines = stdout.split('\n')
  const cut = lines.indexOf('---')
  if (cut < 0) return ''
  const [stamps = '', ...workerLines] = lines.slice(cut + 1).filter(Boolean)
  const [written, now, uptime, ticks] = stamps.split(' ').map(Number) as number[]
  const writtenSinceBoot = written! - (now! - uptime!)
  const workers = workerLines.map((line) => ({
    startedSinceBoot: Number(line.split(' ')[0]) / ticks!,
    shuttingDown: line.includes('shutting down'),
  }))
  const current =
    workers.length > 0 &&
    workers.every((w) => !w.shuttingDown && w.startedSinceBoot >= writtenSinceBoot - 0.01)
  return current ? lines.slice(0, cut).join('\n') : ''
}

/**
 * Every request gets `version`; state.json names it live; its slot listens and the other does not
 * (a new slot the canary started is stopped again).
 */
async function expectServing(on: LabHost[], version: string): Promise<void> {
  for (const host of on) {
    expect(await versionCounts(host, 50)).toEqual({ [version]: 50 })
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

/** The run's error as the user reads it (the workflow command encodes %, CR and LF). */
function errorOf(run: ActionRun): string {
  return decodeCommandValue(errorLine(run.main.log))
}

describe('by traffic', () => {
  it('promotes through every step on two hosts under load with 0 failed requests', async () => {
    const two = hosts.slice(0, 2)
    const { run, load } = await underLoad(two, () => deploy(two, 'v2'))
    expect(run.main.exitCode, run.main.log).toBe(0)
    expect(run.main.outputs.status).toBe('deployed')
    expect(load.failureSamples).toEqual([])
    expect(load.failed).toBe(0)
    expect(load.byVersion.v1).toBeGreaterThan(0)
    expect(load.byVersion.v2).toBeGreaterThan(0)
    // The summary's step table: both bakes saw requests and passed, then the promotion.
    expect(run.main.summary).toMatch(/\| 10% \| [\d,]+ \| 0 \| 0% \| \d[\d.]* m?s \| ✅ passed \|/)
    expect(run.main.summary).toMatch(/\| 50% \| [\d,]+ \| 0 \| 0% \| \d[\d.]* m?s \| ✅ passed \|/)
    expect(run.main.summary).toContain('| 100% | – | – | – | – | 🚀 promoted |')
    await expectServing(two, 'v2')
  })

  it('gives the new version its weight, within 5 points over 1,000 requests', async () => {
    const host = hosts[0]!
    const running = deploy(
      [host],
      'v3',
      {},
      {
        'canary-weight': '20,100',
        'canary-step-duration': '8s',
      },
    )
    await stepLive(host, 20)
    const counts = await versionCounts(host, 1000)
    const run = await running
    expect(run.main.outputs.status).toBe('deployed')
    const share = (100 * (counts.v3 ?? 0)) / 1000
    console.log(`canary share at 20%: ${share}% (${JSON.stringify(counts)})`)
    expect(Math.abs(share - 20)).toBeLessThanOrEqual(5)
    expect((counts.v2 ?? 0) + (counts.v3 ?? 0)).toBe(1000)
    // (c) The documented site line still works, each request counted once (the site's own line
    // replaces the inherited one) and none of the action's verify requests.
    expect(run.main.summary).toContain(`| 20% | ${counts.v3} | 0 | 0% | `)
  })

  it('aborts at the first step when the new version answers 500, and the old one serves 100 %', async () => {
    const two = hosts.slice(0, 2)
    const before = await Promise.all(two.map((h) => hostState(h)))
    const started = Date.now()
    const { run } = await underLoad(two, () =>
      deploy(two, 'v4', { errorRate: 0.5, errorPath: '/' }, { 'canary-step-duration': '20s' }),
    )
    expect(run.main.exitCode).toBe(1)
    expect(run.main.outputs.status).toBe('failed')
    // Judged as soon as canary-min-requests came in, long before the 20 s bake ended.
    expect(Date.now() - started).toBeLessThan(15_000)
    const error = errorOf(run)
    expect(error).toContain('Canary aborted: canary step 10%: the new version answered 5xx to')
    expect(error).toContain('above canary-max-error-rate 1%')
    expect(error).toContain('All traffic is back on the previous version (v3, v2)')
    expect(run.main.summary).toMatch(
      /\| 10% \| [\d,]+ \| [\d,]+ \| [\d.]+% \| [^|]+ \| ❌ aborted \|/,
    )
    expect(run.main.summary).not.toContain('| 50% |')
    // The abort left nothing half-done for the post step.
    expect(run.post.log).not.toContain('repairing')
    await expectServing([two[0]!], 'v3')
    await expectServing([two[1]!], 'v2')
    expect(await Promise.all(two.map((h) => hostState(h)))).toEqual(before)
  })

  it('aborts when health fails mid-bake', async () => {
    const host = hosts[0]!
    const run = await deploy(
      [host],
      'v5',
      { unhealthyAfterMs: 2500 },
      {
        'canary-step-duration': '20s',
      },
    )
    expect(run.main.outputs.status).toBe('failed')
    expect(errorOf(run)).toContain(
      `canary step 10%: [${host.address}] canary: health check failed 2 times in a row: GET /health answered 503`,
    )
    await expectServing([host], 'v3')
  })
})

describe('checks, missing log, cancelled run', () => {
  it('runs canary-check-command per step and aborts on a non-zero exit; health only when chosen', async () => {
    const host = hosts[0]!
    const before = await servedVersion(host)
    // No traffic at all: without `canary-max-error-rate: off` the first step would fail closed.
    const run = await deploy(
      [host],
      'v10',
      {},
      {
        'canary-step-duration': '1s',
        'canary-check-command':
          'echo "check at $CANARY_WEIGHT% of $APP_VERSION"; test "$CANARY_WEIGHT" -lt 50',
        'canary-max-error-rate': 'off',
      },
    )
    expect(run.main.outputs.status).toBe('failed')
    expect(run.main.log).toContain('check at 10% of v10')
    expect(errorOf(run)).toContain(
      `Canary aborted: canary step 50%: [${host.address}] canary: canary-check-command: command exited 1`,
    )
    expect(run.main.summary).toMatch(
      /\| 10% \| – \| – \| – \| – \| ➖ not judged \| canary-max-error-rate: off: judged on health only \|/,
    )
    await expectServing([host], before)
  })

  it('insufficient evidence is not a pass: a quiet step goes on until canary-min-requests came in, else fails closed', async () => {
    const host = hosts[0]!
    const before = await servedVersion(host)
    // A few requests only: the 3 s step goes on to 9 s (3 × canary-step-duration), then aborts.
    const quiet = deploy(
      [host],
      'v10c',
      {},
      { 'canary-weight': '50,100', 'canary-step-duration': '3s' },
    )
    await stepLive(host, 50)
    await versionCounts(host, 6)
    const run = await quiet
    expect(run.main.outputs.status).toBe('failed')
    expect(errorOf(run)).toMatch(
      /canary step 50%: no evidence, so the canary fails closed: only \d+ request\(s\) reached the new version in [\d.]+s \(3 × canary-step-duration\), fewer than canary-min-requests \(20\)/,
    )
    expect(run.main.log).toMatch(
      /Canary 50%: \d+ requests, 0 5xx \(0\.0%\)(, p99 [^,]+)? so far, waiting for 20 requests, [\d.]+s left of 3 × canary-step-duration/,
    )
    await expectServing([host], before)

    // The minimum arrives after the step's length: judged then, and it passes, saying so.
    const late = deploy(
      [host],
      'v10d',
      {},
      { 'canary-weight': '50,100', 'canary-step-duration': '2s' },
    )
    await stepLive(host, 50)
    await letTimePass(2500, 'the step runs past its length without traffic')
    await versionCounts(host, 100)
    const promoted = await late
    expect(promoted.main.outputs.status, errorOf(promoted)).toBe('deployed')
    expect(promoted.main.summary).toMatch(
      /\| 50% \| [\d,]+ \| 0 \| 0% \| [^|]+ \| ✅ passed \| went on for [\d.]+s until canary-min-requests \(20\) came in \|/,
    )
    await expectServing([host], 'v10d')
  })

  it('a canary-access-log nginx cannot open fails at nginx -t, before any traffic moves', async () => {
    const host = hosts[0]!
    const before = await hostState(host)
    const served = await servedVersion(host)
    const run = await deploy(
      [host],
      'v10b',
      {},
      { 'canary-step-duration': '1s', 'canary-access-log': '/var/log/no-such-dir/shop.log' },
    )
    expect(run.main.outputs.status).toBe('failed')
    expect(errorOf(run)).toContain('switch: install upstream and test nginx')
    expect(errorOf(run)).toContain('"/var/log/no-such-dir/shop.log" failed')
    await expectServing([host], served)
    expect(await hostState(host)).toEqual(before)
  })

  it('a run killed mid-bake: the post step puts all traffic back and stops the new slot', async () => {
    const host = hosts[0]!
    const before = await servedVersion(host)
    const running = runAction(
      deployInputs(lab, [host], makeRelease('v11'), {
        version: 'v11',
        strategy: 'canary',
        'canary-step-duration': '60s',
        'canary-sticky-cookie': COOKIE,
      }),
      { killAfterMs: 10_000 },
    )
    await stepLive(host, 10)
    const killed = await running
    expect(killed.main.exitCode).toBeNull()
    expect(killed.post.exitCode).toBe(0)
    expect(killed.post.log).toMatch(
      new RegExp(
        `post: \\[${host.address}\\] nginx sends traffic to the live (blue|green) slot again; stopped the (blue|green) slot the run had started`,
      ),
    )
    await expectServing([host], before)
  })
})

describe('by hosts', () => {
  it('moves 1 of 3 hosts first, bakes, then the rest; and reverts it on abort', async () => {
    const { run, load } = await underLoad(hosts, () =>
      deploy(hosts, 'v6', {}, { 'canary-hosts': '1', 'batch-size': '2' }),
    )
    expect(run.main.outputs.status, errorOf(run)).toBe('deployed')
    expect(load.failed).toBe(0)
    const [first, second, third] = hosts.map((h) => h.address)
    expect(run.main.log).toContain(`Batch 1 of 2: ${first}\n`)
    expect(run.main.log).toContain(`Batch 2 of 2: ${second}, ${third}\n`)
    expect(run.main.summary).toMatch(
      /\| 1 of 3 host\(s\) \| [\d,]+ \| 0 \| 0% \| [^|]+ \| ✅ passed \|/,
    )
    expect(run.main.summary).toContain('| all hosts | – | – | – | – | 🚀 promoted |')
    await expectServing(hosts, 'v6')

    const aborted = await underLoad(hosts, () =>
      deploy(
        hosts,
        'v7',
        { errorRate: 1, errorPath: '/' },
        {
          'canary-hosts': '1',
          'canary-step-duration': '20s',
        },
      ),
    )
    expect(aborted.run.main.outputs.status).toBe('failed')
    const error = errorOf(aborted.run)
    expect(error).toContain('canary step 1 of 3 host(s): the new version answered 5xx')
    expect(error).toContain('The 1 host(s) that had switched were rolled back (canary aborted).')
    await expectServing(hosts, 'v6')
  })
})

describe('sticky cookie', () => {
  /** `requests` requests per client, each client with its own session cookie: versions each saw. */
  async function versionsByClient(host: LabHost, clients: number, requests: number) {
    const seen = new Map<number, Set<string>>()
    for (let round = 0; round < requests; round++) {
      await Promise.all(
        Array.from({ length: clients }, async (_, id) => {
          const response = await fetch(`http://${host.address}/version`, {
            headers: { cookie: `${COOKIE}=client-${id}` },
          })
          const versions = seen.get(id) ?? new Set<string>()
          versions.add((await response.text()).trim())
          seen.set(id, versions)
        }),
      )
    }
    return seen
  }

  it('keeps every client on one version within a step, and on the new one once there', async () => {
    const host = hosts[1]!
    const running = deploy(
      [host],
      'v8',
      {},
      {
        'canary-weight': '25,60,100',
        'canary-step-duration': '6s',
      },
    )
    await stepLive(host, 25)
    const atFirstStep = await versionsByClient(host, 40, 10)
    await stepLive(host, 60)
    const atSecondStep = await versionsByClient(host, 40, 10)
    expect((await running).main.outputs.status).toBe('deployed')

    for (const seen of [atFirstStep, atSecondStep]) {
      expect([...seen.values()].every((versions) => versions.size === 1)).toBe(true)
    }
    const onNew = (seen: Map<number, Set<string>>) =>
      [...seen.keys()].filter((id) => seen.get(id)!.has('v8'))
    console.log(
      `sticky: on v8 at 25%: ${onNew(atFirstStep).length}/40, at 60%: ${onNew(atSecondStep).length}/40`,
    )
    expect(onNew(atFirstStep).length).toBeGreaterThan(0)
    expect(onNew(atFirstStep).length).toBeLessThan(40)
    // Consistent hashing: raising the weight only moves users to the new version.
    expect(onNew(atSecondStep)).toEqual(expect.arrayContaining(onNew(atFirstStep)))
    expect(onNew(atSecondStep).length).toBeGreaterThan(onNew(atFirstStep).length)
  })

  it('gives a new visitor the cookie its first request was routed by', async () => {
    const host = hosts[2]!
    const running = deploy(
      [host],
      'v9',
      {},
      {
        'canary-weight': '50,100',
        'canary-step-duration': '6s',
      },
    )
    await stepLive(host, 50)
    const firsts: string[] = []
    for (let visitor = 0; visitor < 20; visitor++) {
      const first = await fetch(`http://${host.address}/version`)
      const cookie = first.headers.get('set-cookie') ?? ''
      expect(cookie).toMatch(new RegExp(`^${COOKIE}=[0-9a-f]{32}; Path=/; HttpOnly; SameSite=Lax$`))
      const version = (await first.text()).trim()
      firsts.push(version)
      const later = await versionCounts(host, 10, { cookie: cookie.split(';')[0]! })
      expect(later).toEqual({ [version]: 10 })
    }
    expect(new Set(firsts)).toEqual(new Set(['v6', 'v9']))
    expect((await running).main.outputs.status).toBe('deployed')
  })
})

/**
 * The gate fails closed (issue 13): the action's include writes the canary log in nginx's http
 * context, so a site without an access_log of its own is judged without any line; a site with its
 * own access_log and no canary line has no evidence, and the canary aborts naming the line to add.
 */
describe('evidence without the canary line', () => {
  afterAll(async () => {
    await addSite(hosts[0]!, 'shop', { canaryLog: true, stickyCookie: true })
  })

  it('(a) a site without the line: a 50 %-5xx canary aborts, a healthy one promotes', async () => {
    const host = hosts[0]!
    await addSite(host, 'shop', { stickyCookie: true })
    const before = await hostState(host)
    const served = await servedVersion(host)
    const gate = { 'canary-weight': '20,100', 'canary-max-error-rate': '5%' }
    const { run } = await underLoad([host], () =>
      deploy(
        [host],
        'v12',
        { errorRate: 0.5, errorPath: '/' },
        {
          ...gate,
          'canary-step-duration': '20s',
        },
      ),
    )
    expect(run.main.outputs.status).toBe('failed')
    expect(errorOf(run)).toContain(
      'Canary aborted: canary step 20%: the new version answered 5xx to',
    )
    expect(errorOf(run)).toContain('above canary-max-error-rate 5%')
    await expectServing([host], served)
    expect(await hostState(host)).toEqual(before)

    const accessLogLines = async () =>
      Number((await host.sh('wc -l < /var/log/nginx/access.log')).stdout.trim())
    const running = deploy([host], 'v13', {}, { ...gate, 'canary-step-duration': '8s' })
    await stepLive(host, 20)
    const operatorsBefore = await accessLogLines()
    const counts = await versionCounts(host, 300)
    // The operator's own http-level access_log still gets every request (both apply).
    expect(await accessLogLines()).toBeGreaterThanOrEqual(operatorsBefore + 300)
    const promoted = await running
    expect(promoted.main.outputs.status, errorOf(promoted)).toBe('deployed')
    // Exactly the new version's answers: the include logs only the app's slots, once each, and
    // not the action's own verify requests.
    expect(counts.v13).toBeGreaterThan(0)
    expect(promoted.main.summary).toContain(`| 20% | ${counts.v13} | 0 | 0% | `)
    await expectServing([host], 'v13')
  })

  it('(b) a site with its own access_log: the 5xx canary aborts with the fail-closed error', async () => {
    const host = hosts[0]!
    await addSite(host, 'shop', {
      stickyCookie: true,
      ownAccessLog: '/var/log/nginx/shop-site.log',
    })
    const before = await hostState(host)
    const { run } = await underLoad([host], () =>
      deploy(
        [host],
        'v14',
        { errorRate: 0.5, errorPath: '/' },
        {
          'canary-weight': '20,100',
          'canary-max-error-rate': '5%',
          'canary-step-duration': '3s',
        },
      ),
    )
    expect(run.main.outputs.status).toBe('failed')
    const error = errorOf(run)
    expect(error).toContain(
      `Canary aborted: canary step 20%: [${host.address}] canary: no evidence, so the canary fails closed: ` +
        "the access log /var/log/nginx/shop-canary.log recorded no request to shop's slots during the 3s bake",
    )
    expect(error).toContain(
      'Add `access_log /var/log/nginx/shop-canary.log shop_canary;` to the server block that has ' +
        '`proxy_pass http://shop;` (next to its own access_log), or set `canary-max-error-rate: off` ' +
        'to judge on health checks only.',
    )
    expect(error).toContain('All traffic is back on the previous version (v13)')
    expect(run.main.summary).toMatch(/\| 20% \| 0 \| 0 \| – \| – \| ❌ aborted \|/)
    expect(run.post.log).not.toContain('repairing')
    await expectServing([host], 'v13')
    expect(await hostState(host)).toEqual(before)
  })
})
