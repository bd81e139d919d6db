/**
 * Bounded constant HTTP load, to measure failed requests across a deploy (DESIGN.md, "Measuring
 * zero downtime"): keep-alive clients, clients that open a new connection per request, and clients
 * looping over 2 s slow requests, all at once, until stopped or a hard limit is reached.
 *
 * Failed = every non-2xx and every transport error (refused, reset, timeout, ...), with one
 * exception: a request sent on a *reused* keep-alive connection that the server closed before
 * sending any byte of a response (nginx closing idle keep-alive connections on reload) is retried
 * once on a fresh connection, as browsers and most HTTP clients do (RFC 9112 §9.3.1). Those retries
 * are counted in `keepAliveRetries`; a retry that fails again is a failure.
 *
 * Uses node:http only. Latency is measured per logical request (a retried request counts once,
 * from its first attempt to the end of its retry). Slow requests are left out of the latency
 * figures (they take `slowMs` by design) but are counted everywhere else.
 */
import { Agent, request, type ClientRequest, type IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { waitFor } from './wait.js'

export interface LoadOptions {
  /** Base URL(s) to hit, e.g. http://10.213.5.10/ — requests spread over them. */
  urls: string[]
  /** Keep-alive clients, each sending one request after another on a persistent connection (http.Agent keepAlive, maxSockets 1). Default 4. */
  keepAliveClients?: number
  /** Clients that open a new connection per request (Connection: close). Default 2. */
  newConnectionClients?: number
  /** Clients that loop over `GET /slow?ms=<slowMs>`. Default 1, slowMs 2000. */
  slowClients?: number
  slowMs?: number
  /** Share of keep-alive requests that are `POST /echo` with a small body. Default 0.2. */
  postShare?: number
  /** Pause between requests per client (ms), default 5 — keeps the rate bounded. */
  pauseMs?: number
  /** Hard limits: stop by itself after this many requests or this long (defaults 200000 and 10 min). */
  maxRequests?: number
  maxDurationMs?: number
  /** Path for normal GETs, default '/'. */
  path?: string
  /** Per attempt, from sending the request to the end of the response body. Default 10000. */
  requestTimeoutMs?: number
}

export interface LoadReport {
  /** Completed logical requests (a retried request counts once). */
  requests: number
  /** 2xx */
  ok: number
  non2xx: number
  transportErrors: number
  /** non2xx + transportErrors */
  failed: number
  /** Requests retried once because a reused keep-alive connection was closed before any byte came back. */
  keepAliveRetries: number
  /** Latency of logical requests, slow requests excluded. */
  p50Ms: number
  p99Ms: number
  maxMs: number
  /** Count of 2xx responses per X-App-Version header value ('(none)' when absent). */
  byVersion: Record<string, number>
  /** Failures per status code or error code, e.g. { '502': 12, ECONNREFUSED: 3 }. */
  failuresByKind: Record<string, number>
  /** Up to 20 examples of failures: status or error code, url, when (ms since start). */
  failureSamples: string[]
  durationMs: number
}

export interface LoadRun {
  /** Stop issuing requests, let in-flight ones finish (bounded by requestTimeoutMs), report. */
  stop(): Promise<LoadReport>
  /** The figures so far, while the load keeps running. */
  snapshot(): LoadReport
  /** Settles with the final report once the load ended (stop() or a hard limit). */
  done: Promise<LoadReport>
}

type ClientKind = 'keepAlive' | 'newConnection' | 'slow'

type AttemptResult =
  | { type: 'response'; status: number; version: string }
  | { type: 'error'; code: string; reused: boolean; noResponseBytes: boolean }
  | { type: 'abandoned' }

interface RequestSpec {
  method: 'GET' | 'POST'
  url: string
  body?: string
  slow: boolean
}

const RETRYABLE_CODES = new Set(['ECONNRESET', 'EPIPE'])
const MAX_SAMPLES = 20

function positiveInt(value: number | undefined, fallback: number, name: string): number {
  const n = value ?? fallback
  if (!Number.isFinite(n) || n < 0) throw new Error(`load: ${name} must be a number >= 0`)
  return Math.floor(n)
}

function joinPath(base: URL, path: string): string {
  const url = new URL(base.href)
  const [pathname, query] = path.split('?', 2)
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/${pathname.replace(/^\/+/, '')}`
  url.search = query === undefined ? '' : `?${query}`
  return url.href
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[index]
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10
}

function errorCode(err: unknown): string {
  const e = err as NodeJS.ErrnoException | undefined
  if (e?.message === 'socket hang up') return 'ECONNRESET'
  return e?.code ?? e?.message ?? String(err)
}

export function startLoad(options: LoadOptions): LoadRun {
  if (options.urls.length === 0) throw new Error('load: at least one URL is needed')
  const bases = options.urls.map((u) => {
    const url = new URL(u)
    if (url.protocol !== 'http:') throw new Error(`load: only http:// URLs are supported: ${u}`)
    return url
  })
  const keepAliveClients = positiveInt(options.keepAliveClients, 4, 'keepAliveClients')
  const newConnectionClients = positiveInt(options.newConnectionClients, 2, 'newConnectionClients')
  const slowClients = positiveInt(options.slowClients, 1, 'slowClients')
  const slowMs = positiveInt(options.slowMs, 2000, 'slowMs')
  const postShare = Math.min(1, Math.max(0, options.postShare ?? 0.2))
  const pauseMs = positiveInt(options.pauseMs, 5, 'pauseMs')
  const maxRequests = positiveInt(options.maxRequests, 200_000, 'maxRequests')
  const maxDurationMs = positiveInt(options.maxDurationMs, 10 * 60_000, 'maxDurationMs')
  const requestTimeoutMs = Math.max(
    1,
    positiveInt(options.requestTimeoutMs, 10_000, 'requestTimeoutMs'),
  )
  const normalTargets = bases.map((b) => joinPath(b, options.path ?? '/'))
  const slowTargets = bases.map((b) => joinPath(b, `/slow?ms=${slowMs}`))
  const echoTargets = bases.map((b) => joinPath(b, '/echo'))

  const startedAt = performance.now()
  let endedAt: number | undefined
  let issued = 0
  let nextTarget = 0
  let stopping = false
  /** Set once stop() gave up waiting: attempts still running are dropped from the figures. */
  let abandonAll = false

  const counts = { requests: 0, ok: 0, non2xx: 0, transportErrors: 0, keepAliveRetries: 0 }
  const latencies: number[] = []
  const byVersion: Record<string, number> = {}
  const failuresByKind: Record<string, number> = {}
  const failureSamples: string[] = []

  const agents: Agent[] = []
  const inFlight = new Set<ClientRequest>()
  const abandoned = new WeakSet<ClientRequest>()
  const pauses = new Set<() => void>()

  const elapsed = () => performance.now() - startedAt

  function report(): LoadReport {
    const sorted = latencies.slice().sort((a, b) => a - b)
    return {
      ...counts,
      failed: counts.non2xx + counts.transportErrors,
      p50Ms: round(percentile(sorted, 50)),
      p99Ms: round(percentile(sorted, 99)),
      maxMs: round(sorted.length > 0 ? sorted[sorted.length - 1] : 0),
      byVersion: { ...byVersion },
      failuresByKind: { ...failuresByKind },
      failureSamples: failureSamples.slice(),
      durationMs: Math.round((endedAt ?? performance.now()) - startedAt),
    }
  }

  function pick(targets: string[]): string {
    const url = targets[nextTarget % targets.length]
    nextTarget += 1
    return url
  }

  function nextSpec(kind: ClientKind): RequestSpec {
    if (kind === 'slow') return { method: 'GET', url: pick(slowTargets), slow: true }
    if (kind === 'keepAlive' && postShare > 0 && Math.random() < postShare) {
      const body = JSON.stringify({ n: issued, at: Date.now(), pad: 'x'.repeat(64) })
      return { method: 'POST', url: pick(echoTargets), body, slow: false }
    }
    return { method: 'GET', url: pick(normalTargets), slow: false }
  }

  /** One attempt: resolves (never rejects) once the response body ended or the request failed. */
  function attempt(spec: RequestSpec, agent: Agent | false): Promise<AttemptResult> {
    if (abandonAll) return Promise.resolve({ type: 'abandoned' })
    return new Promise((resolve) => {
      let settled = false
      let socket: Socket | undefined
      let bytesBefore = 0
      let gotResponse = false
      const headers: Record<string, string | number> = { 'User-Agent': 'dzd-load' }
      if (agent === false) headers.Connection = 'close'
      if (spec.body !== undefined) {
        headers['Content-Type'] = 'application/json'
        headers['Content-Length'] = Buffer.byteLength(spec.body)
      }
      const req = request(spec.url, { method: spec.method, agent, headers })
      const finish = (result: AttemptResult) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        inFlight.delete(req)
        resolve(abandoned.has(req) ? { type: 'abandoned' } : result)
      }
      const fail = (err: unknown) => {
        const noResponseBytes =
          !gotResponse && socket !== undefined && socket.bytesRead === bytesBefore
        finish({ type: 'error', code: errorCode(err), reused: req.reusedSocket, noResponseBytes })
      }
      const timer = setTimeout(() => {
        finish({
          type: 'error',
          code: 'ETIMEDOUT',
          reused: req.reusedSocket,
          noResponseBytes: false,
        })
        req.destroy()
      }, requestTimeoutMs)
      inFlight.add(req)
      req.on('socket', (s: Socket) => {
        socket = s
        bytesBefore = s.bytesRead
      })
      req.on('error', fail)
      req.on('close', () => {
        if (!gotResponse) fail(Object.assign(new Error('socket closed'), { code: 'ECONNRESET' }))
      })
      req.on('response', (res: IncomingMessage) => {
        gotResponse = true
        const status = res.statusCode ?? 0
        const header = res.headers['x-app-version']
        const version = (Array.isArray(header) ? header[0] : header) ?? '(none)'
        res.on('data', () => undefined)
        res.on('end', () => finish({ type: 'response', status, version }))
        res.on('error', fail)
        res.on('close', () => {
          if (!res.complete) fail(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }))
        })
      })
      req.end(spec.body)
    })
  }

  function recordFailure(kind: string, spec: RequestSpec, at: number, retried: boolean) {
    failuresByKind[kind] = (failuresByKind[kind] ?? 0) + 1
    if (failureSamples.length < MAX_SAMPLES) {
      const note = retried ? ' (after keep-alive retry)' : ''
      failureSamples.push(`+${Math.round(at)}ms ${kind} ${spec.method} ${spec.url}${note}`)
    }
  }

  async function logicalRequest(spec: RequestSpec, agent: Agent | false): Promise<void> {
    const begin = elapsed()
    let result = await attempt(spec, agent)
    let retried = false
    if (
      result.type === 'error' &&
      result.reused &&
      result.noResponseBytes &&
      RETRYABLE_CODES.has(result.code)
    ) {
      retried = true
      counts.keepAliveRetries += 1
      // The dead socket is gone from the agent by now, so the retry goes out on a new connection.
      await new Promise((r) => setImmediate(r))
      result = await attempt(spec, agent)
    }
    if (result.type === 'abandoned') return
    counts.requests += 1
    if (!spec.slow) latencies.push(elapsed() - begin)
    if (result.type === 'response') {
      if (result.status >= 200 && result.status < 300) {
        counts.ok += 1
        byVersion[result.version] = (byVersion[result.version] ?? 0) + 1
      } else {
        counts.non2xx += 1
        recordFailure(String(result.status), spec, begin, retried)
      }
    } else {
      counts.transportErrors += 1
      recordFailure(result.code, spec, begin, retried)
    }
  }

  function pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer)
        pauses.delete(wake)
        resolve()
      }
      const timer = setTimeout(wake, ms)
      pauses.add(wake)
    })
  }

  async function client(kind: ClientKind): Promise<void> {
    let agent: Agent | false = false
    if (kind !== 'newConnection') {
      agent = new Agent({ keepAlive: true, maxSockets: 1 })
      agents.push(agent)
    }
    while (!stopping && issued < maxRequests) {
      issued += 1
      await logicalRequest(nextSpec(kind), agent)
      if (pauseMs > 0 && !stopping) await pause(pauseMs)
    }
  }

  const clients = [
    ...Array.from({ length: keepAliveClients }, () => client('keepAlive')),
    ...Array.from({ length: newConnectionClients }, () => client('newConnection')),
    ...Array.from({ length: slowClients }, () => client('slow')),
  ]
  const allClientsDone = Promise.all(clients).then(() => undefined)

  let finalReport: Promise<LoadReport> | undefined
  const durationTimer = setTimeout(() => void finish(), maxDurationMs)

  function finish(): Promise<LoadReport> {
    if (finalReport) return finalReport
    stopping = true
    clearTimeout(durationTimer)
    for (const wake of [...pauses]) wake()
    finalReport = (async () => {
      // In-flight attempts end by themselves within requestTimeoutMs (a retry may add one more
      // attempt); past that, abandon what is left so stop() never hangs.
      let deadline: NodeJS.Timeout | undefined
      await Promise.race([
        allClientsDone,
        new Promise<void>((r) => (deadline = setTimeout(r, requestTimeoutMs + 500))),
      ])
      clearTimeout(deadline)
      abandonAll = true
      for (const req of [...inFlight]) {
        abandoned.add(req)
        req.destroy()
      }
      await Promise.race([allClientsDone, new Promise((r) => setTimeout(r, 200))])
      endedAt = performance.now()
      for (const agent of agents) agent.destroy()
      return report()
    })()
    return finalReport
  }

  // Ends by itself once every client hit maxRequests.
  const done = allClientsDone.then(() => finish())

  return { stop: finish, snapshot: report, done }
}

/**
 * Resolves once the load has had `count` more successful answers (from `version`, when given)
 * than when called: traffic flows before a deploy starts, and keeps flowing (to the new version)
 * after it. Throws after `timeoutMs`.
 */
export async function moreAnswers(
  load: LoadRun,
  count: number,
  version?: string,
  timeoutMs = 30_000,
): Promise<void> {
  const seen = () => (version ? (load.snapshot().byVersion[version] ?? 0) : load.snapshot().ok)
  const from = seen()
  const what = `${count} more answers${version ? ` from ${version}` : ''} under load`
  await waitFor(() => seen() >= from + count, { what, timeoutMs })
}

/** One or two human lines, e.g. for a test log or the job summary of a benchmark. */
export function formatLoadReport(r: LoadReport): string {
  const seconds = r.durationMs / 1000
  const rate = seconds > 0 ? Math.round(r.requests / seconds) : 0
  const versions =
    Object.entries(r.byVersion)
      .map(([v, n]) => `${v}=${n}`)
      .join(' ') || 'none'
  const line =
    `${r.requests} requests in ${seconds.toFixed(1)} s (${rate}/s): ${r.ok} ok, ${r.failed} failed ` +
    `(${r.non2xx} non-2xx, ${r.transportErrors} transport errors), ` +
    `${r.keepAliveRetries} keep-alive retries; latency p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, ` +
    `max ${r.maxMs} ms; 2xx by version: ${versions}`
  if (r.failed === 0) return line
  const kinds = Object.entries(r.failuresByKind)
    .map(([k, n]) => `${k}×${n}`)
    .join(', ')
  return `${line}\nfailures: ${kinds}; first: ${r.failureSamples.slice(0, 3).join(' | ')}`
}
