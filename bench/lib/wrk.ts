/**
 * wrk (Debian) as a cross-check of test/load.ts: keep-alive GETs at full speed for a fixed time.
 * Unlike test/load.ts it cannot mix in new connections, POSTs and slow requests, and it does not
 * retry a request on a keep-alive connection that nginx closed during a reload: such a request is
 * a read error in its "Socket errors".
 */
import { spawn } from 'node:child_process'
import { ensureCommands } from './apt.js'
import { sleep } from './stats.js'

export interface WrkReport {
  requests: number
  non2xx: number
  socketErrors: { connect: number; read: number; write: number; timeout: number }
  p50Ms: number
  p99Ms: number
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 }

export function parseWrk(text: string): WrkReport {
  const number = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0)
  const latency = (p: number) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)$`, 'm').exec(text)
    return m ? Math.round(Number(m[1]) * UNIT_MS[m[2]!]! * 10) / 10 : 0
  }
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text)
  const [connect, read, write, timeout] = (errors?.slice(1) ?? [0, 0, 0, 0]).map(Number)
  return {
    requests: number(/(\d+) requests in/),
    non2xx: number(/Non-2xx or 3xx responses: (\d+)/),
    socketErrors: { connect: connect!, read: read!, write: write!, timeout: timeout! },
    p50Ms: latency(50),
    p99Ms: latency(99),
  }
}

/**
 * Runs `wrk -t1 -c4 -d<seconds>s --latency url` and, 1 s after it started, `operation` (which must
 * end within the wrk run). Bounded by the fixed duration.
 */
export async function wrkDuring(
  url: string,
  seconds: number,
  operation: () => Promise<void>,
): Promise<WrkReport> {
  await ensureCommands({ wrk: 'wrk' })
  const child = spawn('wrk', ['-t1', '-c4', `-d${seconds}s`, '--latency', url])
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | null>((r) => child.on('close', r))
  await sleep(1000)
  await operation()
  const code = await exited
  if (code !== 0) throw new Error(`wrk exited with ${code}: ${out}`)
  return parseWrk(out)
}
