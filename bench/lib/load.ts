/**
 * The load every benchmark puts through nginx (test/load.ts, DESIGN.md "Measuring zero downtime"):
 * 4 keep-alive clients (20 % of their requests POST /echo), 2 clients opening a new connection per
 * request, 2 clients looping over 2 s slow requests; each client pauses 5 ms between requests.
 */
import { formatLoadReport, startLoad, type LoadReport } from '../../test/load.js'
import { count, sleep } from './stats.js'

export const LOAD_MIX = {
  keepAliveClients: 4,
  newConnectionClients: 2,
  slowClients: 2,
  slowMs: 2000,
  postShare: 0.2,
  pauseMs: 5,
} as const

export interface UnderLoadOptions {
  /** Repeat the operation until the load has made this many requests. Default 0: run it once. */
  minRequests?: number
  /** Never more operations than this. Default 20. */
  maxOperations?: number
  /** Load before the first and after the last operation. Default 1000 ms. */
  settleMs?: number
}

export interface UnderLoadResult {
  report: LoadReport
  /** Operations completed. */
  operations: number
  /** Wall time of each operation. */
  operationMs: number[]
  /** The operation's error, if one failed (the load is still reported). */
  error?: unknown
}

/**
 * Runs `operation(i)` under {@link LOAD_MIX} against `urls`, once or repeatedly until `minRequests`
 * requests were made. Bounded: at most 50,000 requests and 5 minutes of load.
 */
export async function underLoad(
  urls: string[],
  operation: (i: number) => Promise<void>,
  options: UnderLoadOptions = {},
): Promise<UnderLoadResult> {
  const { minRequests = 0, maxOperations = 20, settleMs = 1000 } = options
  const load = startLoad({ urls, ...LOAD_MIX, maxRequests: 50_000, maxDurationMs: 300_000 })
  const operationMs: number[] = []
  let error: unknown
  await sleep(settleMs)
  try {
    do {
      const started = performance.now()
      await operation(operationMs.length)
      operationMs.push(performance.now() - started)
    } while (load.snapshot().requests < minRequests && operationMs.length < maxOperations)
  } catch (err) {
    error = err
  }
  await sleep(settleMs)
  const report = await load.stop()
  return { report, operations: operationMs.length, operationMs, error }
}

export { formatLoadReport }

/** Table columns for one load report (headers: {@link LOAD_COLUMNS}). */
export const LOAD_COLUMNS = [
  '>requests',
  '>failed',
  '>non-2xx',
  '>transport errors',
  '>keep-alive retries',
  '>p50',
  '>p99',
]

export interface LoadFigures {
  requests: number
  non2xx: number
  transportErrors: number
  /** A number, or a note (wrk does not retry). */
  keepAliveRetries: number | string
  p50Ms: number
  p99Ms: number
}

export function loadCells(r: LoadFigures): (string | number)[] {
  const failed = r.non2xx + r.transportErrors
  const share =
    r.requests > 0 && failed > 0 ? ` (${((100 * failed) / r.requests).toFixed(1)} %)` : ''
  return [
    count(r.requests),
    `${count(failed)}${share}`,
    count(r.non2xx),
    count(r.transportErrors),
    r.keepAliveRetries,
    `${r.p50Ms} ms`,
    `${r.p99Ms} ms`,
  ]
}
