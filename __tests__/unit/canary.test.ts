/** Canary analysis: the access log summary (the real script run by sh), its parsing, the verdict. */
import { execFileSync } from 'node:child_process'
import { appendFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { canaryEvidence, judge, p99, parseLogReading } from '../../src/canary/evidence.js'
import { accessLogSince, canaryEvidenceProbe } from '../../src/remote/commands/canary.js'
import { tempDir } from '../../test/tmp.js'

function run(offset: number | undefined, file: string): string {
  return execFileSync('sh', ['-c', accessLogSince(file, offset).text], { encoding: 'utf8' })
}

describe('accessLogSince', () => {
  const dir = tempDir('canary-log')
  const log = join(dir, 'shop-canary.log')
  const lines = [
    '1700000000.001|200|127.0.0.1:3001|0.012',
    '1700000000.002|500|127.0.0.1:3002|0.150',
    '1700000000.003|200|127.0.0.1:3002|1.234',
    // Retried on the other server after a refused connection: counts for the one that answered.
    '1700000000.004|200|127.0.0.1:3002, 127.0.0.1:3001|0.000, 0.003',
    '1700000000.005|502|-|-',
    // The format before response times: counted, no latency.
    '1699999999.000|200|127.0.0.1:3001',
  ]
  const reading = (
    requests: number,
    errors: number,
    latencies: [number, number][],
    failures: [number, number][] = [],
  ) => ({
    counts: { requests, errors },
    latencies: new Map(latencies),
    failures: failures.map(([at, status]) => ({ at, status })),
  })

  it('sums requests, 5xx, response times (2 significant digits, rounded up) and the first failures per upstream from an offset on', () => {
    writeFileSync(log, `${lines.join('\n')}\n`)
    const start = parseLogReading(run(undefined, log))
    expect(start).toEqual({ missing: false, size: 240, byUpstream: new Map() })
    const whole = parseLogReading(run(0, log))
    expect(whole).toEqual({
      missing: false,
      size: 240,
      byUpstream: new Map([
        [
          '127.0.0.1:3002',
          reading(
            2,
            1,
            [
              [150, 1],
              [1300, 1],
            ],
            [[1700000000002, 500]],
          ),
        ],
        ['-', reading(1, 1, [], [[1700000000005, 502]])],
        [
          '127.0.0.1:3001',
          reading(3, 0, [
            [12, 1],
            [3, 1],
          ]),
        ],
      ]),
    })
    appendFileSync(log, '1700000000.006|503|127.0.0.1:3002|8.01\n')
    expect(parseLogReading(run(240, log))).toEqual({
      missing: false,
      size: 279,
      byUpstream: new Map([['127.0.0.1:3002', reading(1, 1, [[8100, 1]], [[1700000000006, 503]])]]),
    })
  })

  it('reports at most 5 failures per upstream and read, the oldest', () => {
    const failing = Array.from(
      { length: 7 },
      (_, i) => `170000000${i}.000|500|127.0.0.1:3002|0.001`,
    )
    writeFileSync(log, `${failing.join('\n')}\n`)
    const read = parseLogReading(run(0, log))
    expect(read.missing).toBe(false)
    const upstream = !read.missing ? read.byUpstream.get('127.0.0.1:3002') : undefined
    expect(upstream?.counts).toEqual({ requests: 7, errors: 7 })
    expect(upstream?.failures.map((f) => f.at)).toEqual(
      [0, 1, 2, 3, 4].map((i) => (1700000000 + i) * 1000),
    )
  })

  it('reads a rotated log (smaller than the offset) from its start', () => {
    writeFileSync(log, '1700000001.000|200|127.0.0.1:3002|0.1\n')
    expect(parseLogReading(run(5000, log))).toEqual({
      missing: false,
      size: 38,
      byUpstream: new Map([['127.0.0.1:3002', reading(1, 0, [[100, 1]])]]),
    })
  })

  it('says when there is no log', () => {
    expect(parseLogReading(run(0, join(dir, 'absent.log')))).toEqual({ missing: true })
  })

  it('refuses output it does not understand', () => {
    expect(() => parseLogReading('Permission denied')).toThrow(
      'unexpected access log summary: "Permission denied"',
    )
  })
})

describe('p99', () => {
  it('is the bucket the 99th percentile answer falls in, null without answers', () => {
    expect(p99(new Map())).toBeNull()
    expect(
      p99(
        new Map([
          [20, 99],
          [8000, 1],
        ]),
      ),
    ).toBe(20)
    expect(
      p99(
        new Map([
          [8000, 2],
          [20, 98],
        ]),
      ),
    ).toBe(8000)
  })
})

describe('judge', () => {
  const gate = { maxErrorRate: 0.01, minRequests: 20, maxLatencyMs: null }
  const seen = (requests: number, errors: number, latencies: [number, number][] = []) => ({
    counts: { requests, errors },
    latencies: new Map(latencies),
  })

  it('says too few requests came in, below the minimum', () => {
    expect(judge(seen(2, 1), gate, 'canary')).toEqual({ verdict: 'too few' })
    expect(judge(seen(0, 0), { ...gate, minRequests: 0 }, 'watch')).toEqual({ verdict: 'passed' })
  })

  it('passes a rate at the limit and aborts above it, naming the inputs', () => {
    expect(judge(seen(100, 1), gate, 'canary')).toEqual({ verdict: 'passed' })
    expect(judge(seen(100, 2), gate, 'canary')).toEqual({
      verdict: 'aborted',
      reason:
        'the new version answered 5xx to 2% of 100 requests (2), above canary-max-error-rate 1%',
    })
    expect(judge(seen(100, 2), { ...gate, maxErrorRate: 0.05 }, 'watch').verdict).toBe('passed')
    expect(judge(seen(100, 60), { ...gate, maxErrorRate: null }, 'watch').verdict).toBe('passed')
  })

  it('aborts on any error with a zero-tolerance rate', () => {
    expect(judge(seen(20, 1), { ...gate, maxErrorRate: 0 }, 'canary').verdict).toBe('aborted')
  })

  it('aborts on a p99 above the latency limit', () => {
    const slow = seen(100, 0, [
      [20, 98],
      [8000, 2],
    ])
    expect(judge(slow, gate, 'watch').verdict).toBe('passed')
    expect(judge(slow, { ...gate, maxLatencyMs: 2000 }, 'watch')).toEqual({
      verdict: 'aborted',
      reason:
        "the new version's p99 response time was 8 s over 100 requests, above watch-max-latency 2 s",
    })
    expect(
      judge(
        seen(100, 0, [
          [20, 99],
          [8000, 1],
        ]),
        { ...gate, maxLatencyMs: 2000 },
        'watch',
      ).verdict,
    ).toBe('passed')
  })
})

describe('canary evidence (dry run)', () => {
  const dir = tempDir('canary-evidence')
  const conf = join(dir, 'nginx')
  mkdirSync(join(conf, 'sites-available'), { recursive: true })
  mkdirSync(join(conf, 'sites-enabled'))
  const log = join(dir, 'shop-canary.log')
  const probe = (file = log) =>
    execFileSync('sh', ['-c', canaryEvidenceProbe(file, 'shop', [3001, 3002], conf).text], {
      encoding: 'utf8',
    })
  const site = (name: string, body: string) => {
    writeFileSync(join(conf, 'sites-available', name), body)
    symlinkSync(join(conf, 'sites-available', name), join(conf, 'sites-enabled', name))
  }
  const gate = (healthOnly: boolean) => ({
    maxErrorRate: healthOnly ? null : 0.01,
    minRequests: 20,
    maxLatencyMs: null,
  })
  const settings = (healthOnly = false) => ({
    canary: { accessLog: log, ...gate(healthOnly) } as never,
    watch: gate(healthOnly) as never,
    app: { name: 'shop' } as never,
  })

  it('tells the log state, recent app requests and how each site logs', () => {
    expect(probe(join(dir, 'none', 'x.log'))).toBe('log nodir\n')
    expect(probe()).toBe('log absent\n')
    site('inherits', 'server {\n  location / { proxy_pass http://shop; }\n}\n')
    site(
      'own',
      'server {\n  access_log /var/log/own.log;\n  location / { proxy_pass http://shop/; }\n}\n',
    )
    site(
      'canary',
      `server {\n  access_log /var/log/own.log;\n  access_log ${log} shop_canary;\n  location / { proxy_pass http://shop; }\n}\n`,
    )
    site('other', 'server {\n  location / { proxy_pass http://shopping; }\n}\n')
    writeFileSync(log, '1.0|200|127.0.0.1:3001\n1.1|500|127.0.0.1:3002\n1.2|200|127.0.0.1:4000\n')
    const lines = probe().trim().split('\n')
    expect(lines.slice(0, 2)).toEqual(['log readable', 'recent 2'])
    expect(lines.slice(2).sort()).toEqual(
      ['canary', 'own', 'inherits']
        .flatMap((n) =>
          ['sites-available', 'sites-enabled'].map((d) => `site ${n} ${join(conf, d, n)}`),
        )
        .sort(),
    )
  })

  it('says per case whether there will be evidence and why', () => {
    const own = `site own ${conf}/own`
    expect(canaryEvidence('log nodir\n', settings())).toMatchObject({
      available: false,
      blocking: true,
    })
    expect(canaryEvidence('log absent\n' + own, settings(true))).toEqual({
      available: false,
      blocking: false,
      why: 'canary-max-error-rate: off: health only',
    })
    expect(canaryEvidence('log unreadable\n', settings()).blocking).toBe(true)
    expect(canaryEvidence('log readable\nrecent 3\n' + own, settings())).toEqual({
      available: true,
      blocking: false,
      why: `${log} already records requests to shop's slots (3 in its last 64 KiB)`,
    })
    expect(canaryEvidence(`log absent\nsite inherits ${conf}/a\n${own}`, settings())).toEqual({
      available: true,
      blocking: false,
      why: `${conf}/a has no access_log of its own, so it inherits the one the action's include writes to ${log} during a canary`,
    })
    expect(canaryEvidence(`log absent\n${own}\n`, settings())).toEqual({
      available: false,
      blocking: true,
      why: `${conf}/own proxies to http://shop with an access_log of its own, so it does not inherit the action's and every step would abort (fail closed): add \`access_log ${log} shop_canary;\` to that server block, or set \`canary-max-error-rate: off\` to judge on health checks only`,
    })
    expect(canaryEvidence('log absent\n', settings())).toMatchObject({
      available: false,
      blocking: false,
    })
    // The same for a watch, in its own words.
    expect(canaryEvidence(`log absent\n${own}\n`, settings(), 'watch')).toEqual({
      available: false,
      blocking: true,
      why: `${conf}/own proxies to http://shop with an access_log of its own, so it does not inherit the action's and the watch would switch back (fail closed): add \`access_log ${log} shop_canary;\` to that server block, or set \`watch-max-error-rate: off\` to judge on health checks and watch-check-command only`,
    })
    expect(canaryEvidence('log absent\n' + own, settings(true), 'watch').why).toBe(
      'watch-max-error-rate: off: health only',
    )
  })
})
