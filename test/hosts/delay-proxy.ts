/**
 * A userspace TCP proxy that adds round-trip time: what a runner far from its hosts sees, on a
 * machine whose kernel has no netem. Every chunk read from one side is written to the other
 * RTT/2 after it arrived, in order, without waiting for anything in between (it pipelines like a
 * long link, it does not turn each write into a round trip). A FIN travels the same way (half
 * closes pass through); a reset or error on either side resets both at once.
 */
import { createServer, connect, type Server, type Socket } from 'node:net'

export interface DelayProxyOptions {
  /** Where to forward to, e.g. a lab host's sshd. */
  target: { host: string; port: number }
  /** Round-trip time to add, in ms: each direction gets half. 0 forwards at once (still a proxy). */
  rttMs: number
  /** Address to listen on, default 127.0.0.1 (the port is picked by the kernel). */
  listenHost?: string
}

export interface DelayProxy {
  host: string
  port: number
  /**
   * The added round-trip time in ms; settable: chunks that arrive from then on get the new delay
   * (order is kept: a chunk never overtakes one queued before it).
   */
  rttMs: number
  /** Client connections open now (each with its upstream). */
  readonly connections: number
  /** Stops listening and resets every open connection (both sides). Idempotent. */
  close(): Promise<void>
}

export async function startDelayProxy(opts: DelayProxyOptions): Promise<DelayProxy> {
  let rttMs = checkedRtt(opts.rttMs)
  const oneWayMs = () => rttMs / 2
  const open = new Set<Socket>()
  const server: Server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    const upstream = connect({ ...opts.target, allowHalfOpen: true, noDelay: true })
    for (const s of [client, upstream]) {
      open.add(s)
      s.once('close', () => open.delete(s))
    }
    // A reset or an error on one side (e.g. sshd is down: ECONNREFUSED) resets the other.
    const kill = () => [client, upstream].forEach((s) => s.destroyed || s.resetAndDestroy())
    client.on('error', kill)
    upstream.on('error', kill)
    delayedPipe(client, upstream, oneWayMs)
    delayedPipe(upstream, client, oneWayMs)
  })
  const host = opts.listenHost ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => (server.off('error', reject), resolve()))
  })
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  let closed: Promise<void> | undefined
  return {
    host,
    port,
    get rttMs() {
      return rttMs
    },
    set rttMs(ms: number) {
      rttMs = checkedRtt(ms)
    },
    get connections() {
      return Math.ceil(open.size / 2)
    },
    close: () =>
      (closed ??= Promise.all([
        new Promise((resolve) => server.close(resolve)),
        ...[...open].map(
          (s) => new Promise((resolve) => (s.once('close', resolve), s.resetAndDestroy())),
        ),
      ]).then(() => undefined)),
  }
}

function checkedRtt(ms: number): number {
  if (!Number.isFinite(ms) || ms < 0) throw new Error(`bad RTT ${ms} ms`)
  return ms
}

/**
 * Writes what `from` reads to `to`, each chunk (and the FIN) `delayMs()` after it arrived. One timer
 * at a time, for the head of the queue: arrival times only grow, so delivery keeps their order.
 */
function delayedPipe(from: Socket, to: Socket, delayMs: () => number): void {
  const queue: { at: number; chunk: Buffer | null }[] = [] // null: the FIN
  let timer: NodeJS.Timeout | undefined
  const deliver = (chunk: Buffer | null) => {
    if (to.destroyed) return
    if (chunk === null) to.end()
    else if (!to.write(chunk)) {
      // The receiver is slow: stop reading until it drains, as TCP's window would.
      from.pause()
      to.once('drain', () => from.resume())
    }
  }
  const flush = () => {
    timer = undefined
    const now = performance.now()
    while (queue.length > 0 && queue[0]!.at <= now) deliver(queue.shift()!.chunk)
    if (queue.length > 0) timer = setTimeout(flush, queue[0]!.at - now)
  }
  const push = (chunk: Buffer | null) => {
    const delay = delayMs()
    if (delay === 0 && queue.length === 0) return deliver(chunk)
    queue.push({ at: performance.now() + delay, chunk })
    timer ??= setTimeout(flush, delay)
  }
  from.on('data', (chunk: Buffer) => push(chunk))
  from.once('end', () => push(null))
  to.once('close', () => (clearTimeout(timer), (queue.length = 0)))
}
