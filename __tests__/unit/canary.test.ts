/** Canary analysis: the access log summary (the real script run by sh), its parsing, the verdict. */
import { execFileSync } from 'node:child_process'
import { appendFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { judge, parseLogReading } from '../../src/canary.js'
import { accessLogSince } from '../../src/remote/commands/canary.js'
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
