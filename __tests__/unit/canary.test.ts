/** Canary analysis: the access log summary (the real script run by sh), its parsing, the verdict. */
import { execFileSync } from 'node:child_process'
import { appendFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { canaryEvidence, judge, parseLogReading } from '../../src/canary/evidence.js'
import { accessLogSince, canaryEvidenceProbe } from '../../src/remote/commands/canary.js'
import { tempDir } from '../../test/tmp.js'

function run(offset: number | undefined, file: string): string {
  return execFileSync('sh', ['-c', accessLogSince(file, offset).text], { encoding: 'utf8' })
}

describe('accessLogSince', () => {
  const dir = tempDir('canary-log')
  const log = join(dir, 'shop-canary.log')
  const lines = [
    '1700000000.001|200|127.0.0.1:3001',
    '1700000000.002|500|127.0.0.1:3002',
    '1700000000.003|200|127.0.0.1:3002',
    // Retried on the other server after a refused connection: counts for the one that answered.
    '1700000000.004|200|127.0.0.1:3002, 127.0.0.1:3001',
    '1700000000.005|502|-',
  ]

  it('sums requests and 5xx per upstream from an offset on', () => {
    writeFileSync(log, `${lines.join('\n')}\n`)
    const start = parseLogReading(run(undefined, log))
    expect(start).toEqual({ missing: false, size: 173, byUpstream: new Map() })
    const whole = parseLogReading(run(0, log))
    expect(whole).toEqual({
      missing: false,
      size: 173,
      byUpstream: new Map([
        ['127.0.0.1:3001', { requests: 2, errors: 0 }],
        ['127.0.0.1:3002', { requests: 2, errors: 1 }],
        ['-', { requests: 1, errors: 1 }],
      ]),
    })
    appendFileSync(log, '1700000000.006|503|127.0.0.1:3002\n')
    expect(parseLogReading(run(173, log))).toEqual({
      missing: false,
      size: 207,
      byUpstream: new Map([['127.0.0.1:3002', { requests: 1, errors: 1 }]]),
    })
  })

  it('reads a rotated log (smaller than the offset) from its start', () => {
    writeFileSync(log, '1700000001.000|200|127.0.0.1:3002\n')
    expect(parseLogReading(run(5000, log))).toEqual({
      missing: false,
      size: 34,
      byUpstream: new Map([['127.0.0.1:3002', { requests: 1, errors: 0 }]]),
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

describe('judge', () => {
  const settings = { maxErrorRate: 0.01, minRequests: 20 }

  it('does not judge too few requests', () => {
    expect(judge({ requests: 2, errors: 1 }, settings)).toEqual({ verdict: 'not judged' })
  })

  it('passes a rate at the limit and aborts above it', () => {
    expect(judge({ requests: 100, errors: 1 }, settings)).toEqual({ verdict: 'passed' })
    expect(judge({ requests: 100, errors: 2 }, settings)).toEqual({
      verdict: 'aborted',
      reason:
        'the new version answered 5xx to 2% of 100 requests (2), above canary-max-error-rate 1%',
    })
  })

  it('aborts on any error with a zero-tolerance rate', () => {
    expect(judge({ requests: 20, errors: 1 }, { ...settings, maxErrorRate: 0 }).verdict).toBe(
      'aborted',
    )
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
  const settings = (healthOnly = false) => ({
    canary: { accessLog: log, healthOnly } as never,
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
  })
})
