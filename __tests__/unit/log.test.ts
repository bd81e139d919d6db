/** The log's lines: phases, durations, heartbeats, and what is kept out of it. */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { windowProgress, type WindowSpec } from '../../src/canary/window.js'
import { newWindow } from '../../src/report/model.js'
import {
  fleetPhaseLine,
  formatDuration,
  HEARTBEAT_MS,
  HostLogs,
  hostPhaseLine,
  info,
  printable,
  runHeadline,
  waitingLine,
  withHeartbeat,
} from '../../src/report/log.js'
import { drainProgress, waitForDrain } from '../../src/remote/commands/drain.js'

describe('printable', () => {
  it('drops NUL, CR, ESC, DEL and C1 controls and ANSI colour sequences; keeps tab and newline', () => {
    expect(printable('{"a":1}\n\0# Managed\0')).toBe('{"a":1}\n# Managed')
    expect(printable('\x1b[31mred\x1b[0m and \x1b[1;32mbold\x1b[m')).toBe('red and bold')
    expect(printable('a\rb\x07c\x7fd\x9be\tf')).toBe('abcde\tf')
    expect(printable('naïve – 日本 ✓')).toBe('naïve – 日本 ✓')
  })
})

describe('formatDuration', () => {
  it('says tenths of seconds under a minute, minutes and seconds beyond', () => {
    expect(formatDuration(0)).toBe('0.0s')
    expect(formatDuration(49)).toBe('0.0s')
    expect(formatDuration(350)).toBe('0.3s')
    expect(formatDuration(12_340)).toBe('12.3s')
    expect(formatDuration(59_940)).toBe('59.9s')
    expect(formatDuration(60_000)).toBe('1m 00s')
    expect(formatDuration(125_400)).toBe('2m 05s')
    expect(formatDuration(-5)).toBe('0.0s')
  })
})

describe('headline', () => {
  it('names the app, version, hosts and strategy; a rollback says rollback', () => {
    const run = { app: 'shop', version: 'v2', strategy: 'blue-green', rollback: false }
    expect(runHeadline({ ...run, hosts: ['web1'] })).toBe('Deploying shop v2 to web1 (blue-green)')
    expect(runHeadline({ ...run, hosts: ['web1', 'web2'], strategy: 'canary' })).toBe(
      'Deploying shop v2 to 2 hosts (canary)',
    )
    expect(runHeadline({ ...run, hosts: ['web1', 'web2'], rollback: true })).toBe(
      'Rolling back shop on 2 hosts',
    )
  })
})

describe('phase lines', () => {
  it('one host: what happened and how long it took, or that it failed', () => {
    expect(hostPhaseLine('ship', { host: 'web1', ms: 320, note: 'v2 uploaded (4.4 KiB)' })).toBe(
      '[web1] ship: v2 uploaded (4.4 KiB) (0.3s)',
    )
    expect(hostPhaseLine('drain', { host: 'web1', ms: 1200 })).toBe('[web1] drain (1.2s)')
    expect(hostPhaseLine('health', { host: 'web1', ms: 15_000, failed: 'not healthy\nlog' })).toBe(
      '[web1] health: failed after 15.0s: not healthy',
    )
    const long = hostPhaseLine('start', { host: 'web1', ms: 100, failed: 'x'.repeat(300) })
    expect(long).toBe(`[web1] start: failed after 0.1s: ${'x'.repeat(157)}...`)
  })

  it('a fleet: the count, the slowest host and its time, the note all hosts share', () => {
    const outcomes = [
      { host: 'web1', ms: 300, note: 'v2 uploaded' },
      { host: 'web2', ms: 2100, note: 'v2 uploaded' },
      { host: 'web3', ms: 900, note: 'v2 uploaded' },
    ]
    expect(fleetPhaseLine('ship', outcomes)).toBe('ship: 3 hosts, v2 uploaded (2.1s, slowest web2)')
    expect(fleetPhaseLine('drain', [outcomes[0]!, { host: 'web2', ms: 100, note: 'other' }])).toBe(
      'drain: 2 hosts (0.3s, slowest web1)',
    )
    expect(
      fleetPhaseLine('health', [...outcomes, { host: 'web4', ms: 40_000, failed: 'boom' }]),
    ).toBe('health: 3 of 4 hosts (40.0s, slowest web4); failed on web4')
  })

  it('a heartbeat names what each waiting host last said, a few hosts and a count of the rest', () => {
    expect(
      waitingLine('health', 5000, [{ host: 'web1', status: 'attempt 7, last answer: 503' }]),
    ).toBe('health, 5.0s: [web1] attempt 7, last answer: 503')
    expect(waitingLine('lock', 6000, [{ host: 'web1', status: '' }])).toBe(
      'lock, 6.0s: still running on web1',
    )
    const many = Array.from({ length: 7 }, (_, i) => ({ host: `web${i + 1}`, status: '' }))
    expect(waitingLine('ship', 10_000, many)).toBe(
      'ship, 10.0s: still running on web1, web2, web3, web4 and 3 more',
    )
    many[0]!.status = '2 connection(s) left'
    expect(waitingLine('drain', 10_000, many.slice(0, 2))).toBe(
      'drain, 10.0s: [web1] 2 connection(s) left; [web2] still running',
    )
    expect(waitingLine('drain', 10_000, many)).toContain('[web4] still running; and 3 more')
  })

  it('the heartbeat of a canary step or a watch: requests, 5xx, rate, p99 so far, and the time left', () => {
    const spec = (
      title: string,
      counts: WindowSpec['record']['counts'],
      p99Ms: number | null = null,
    ): WindowSpec => ({
      title,
      inputs: 'watch',
      gate: { maxErrorRate: 0.05, minRequests: 20, maxLatencyMs: null },
      durationMs: 60_000,
      durationInput: 'watch',
      record: { ...newWindow(title), counts, p99Ms },
    })
    expect(windowProgress(spec('Canary 10%', { requests: 42, errors: 1 }), 15_000)).toBe(
      'Canary 10%: 42 requests, 1 5xx (2.4%) so far, 15.0s left',
    )
    expect(windowProgress(spec('Watch', { requests: 0, errors: 0 }), -10)).toBe(
      'Watch: 0 requests, 0 5xx (0.0%) so far, 0.0s left',
    )
    expect(windowProgress(spec('Watch', { requests: 420, errors: 1 }, 120), 42_000)).toBe(
      'Watch: 420 requests, 1 5xx (0.2%), p99 120 ms so far, 42.0s left',
    )
    expect(windowProgress(spec('Watch', { requests: 3, errors: 0 }), 12_000, true)).toBe(
      'Watch: 3 requests, 0 5xx (0.0%) so far, waiting for 20 requests, 12.0s left of 3 × watch',
    )
    expect(windowProgress(spec('Watch', null), 3000)).toBe(
      'Watch: judged on health only, 3.0s left',
    )
  })
})

describe('drain progress', () => {
  it('the drain loop prints `open <count>` every 2 s while connections stay open', () => {
    const text = waitForDrain(3001, 30_000).text
    expect(text).toContain('[ $((_i % 40)) -ne 39 ] || echo "open $(')
    expect(drainProgress('open 3')).toBe(3)
    expect(drainProgress('open 0')).toBe(0)
    expect(drainProgress('/proc/net/tcp:3')).toBeUndefined()
    expect(drainProgress('open 3 and more')).toBeUndefined()
  })
})

describe('what reaches stdout', () => {
  afterEach(() => {
    vi.useRealTimers()
    vi.restoreAllMocks()
  })

  function capture(): string[] {
    const written: string[] = []
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk))
      return true
    })
    return written
  }

  it('the transcript of a host is debug output, made printable', () => {
    const written = capture()
    new HostLogs().sinkFor('web1')('read state: {"a":1}\0# Managed\0')
    expect(written).toEqual(['::debug::[web1] read state: {"a":1}# Managed\n'])
  })

  it('a heartbeat after 5 s without a line, from the innermost running step only', async () => {
    vi.useFakeTimers()
    const written = capture()
    info('start')
    let finish = () => {}
    const work = withHeartbeat(
      () => 'outer',
      () =>
        withHeartbeat(
          (ms) => `inner ${formatDuration(ms)}`,
          () => new Promise<void>((done) => (finish = done)),
        ),
    )
    await vi.advanceTimersByTimeAsync(HEARTBEAT_MS - 500)
    expect(written).toEqual(['start\n'])
    await vi.advanceTimersByTimeAsync(500)
    expect(written).toEqual(['start\n', 'inner 5.0s\n'])
    await vi.advanceTimersByTimeAsync(3000)
    info('a line')
    await vi.advanceTimersByTimeAsync(4000)
    expect(written).toHaveLength(3)
    await vi.advanceTimersByTimeAsync(1000)
    expect(written.at(-1)).toBe('inner 13.0s\n')
    finish()
    await work
    await vi.advanceTimersByTimeAsync(20_000)
    expect(written).toHaveLength(4)
  })
})
