import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer as createHttpServer, type Server } from 'node:http'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { formatLoadReport, moreAnswers, startLoad } from '../../test/load.js'
import { freePort } from '../../test/free-port.js'
import { letTimePass, waitFor } from '../../test/wait.js'

const SERVER = resolve(import.meta.dirname, '../../examples/app/server.js')

const children: ChildProcess[] = []
const servers: Server[] = []
const dir = mkdtempSync(join(tmpdir(), 'dzd-load-'))

/** Starts the sample app on `port` and resolves once it listens. */
function startApp(port: number, version: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [SERVER], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PORT: String(port), APP_VERSION: version },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let log = ''
  return new Promise((ready, fail) => {
    const timer = setTimeout(() => fail(new Error(`app did not start:\n${log}`)), 5000)
    const onData = (d: string) => {
      log += d
      if (!log.includes('listening on')) return
      clearTimeout(timer)
      ready(child)
    }
    child.stdout?.setEncoding('utf8').on('data', onData)
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (log += d))
    child.once(
      'exit',
      (code) => (clearTimeout(timer), fail(new Error(`app exited ${code}:\n${log}`))),
    )
  })
}

function listen(server: Server): Promise<number> {
  servers.push(server)
  return new Promise((ready) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      ready(typeof address === 'object' && address ? address.port : 0)
    }),
  )
}

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL')
  for (const server of servers.splice(0)) {
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  }
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('test/load.ts', () => {
  it('measures steady load on the sample app: no failures, sane latency', async () => {
    const port = await freePort()
    await startApp(port, 'v1')
    const load = startLoad({ urls: [`http://127.0.0.1:${port}/`], slowMs: 500 })
    await letTimePass(1000, 'steady load for 2 s: the report covers a known duration')
    const mid = load.snapshot()
    expect(mid.requests).toBeGreaterThan(0)
    await letTimePass(1000, 'steady load for 2 s')
    const report = await load.stop()
    console.log(`steady: ${formatLoadReport(report)}`)

    expect(report.failed).toBe(0)
    expect(report.failureSamples).toEqual([])
    expect(report.keepAliveRetries).toBe(0)
    expect(report.requests).toBeGreaterThan(100)
    expect(report.requests).toBeGreaterThanOrEqual(mid.requests)
    expect(report.ok).toBe(report.requests)
    expect(Object.keys(report.byVersion)).toEqual(['v1'])
    expect(report.byVersion.v1).toBe(report.ok)
    expect(report.p50Ms).toBeGreaterThan(0)
    expect(report.p50Ms).toBeLessThanOrEqual(report.p99Ms)
    expect(report.p99Ms).toBeLessThanOrEqual(report.maxMs)
    expect(report.p50Ms).toBeLessThan(50)
    expect(report.p99Ms).toBeLessThan(500)
    expect(report.durationMs).toBeGreaterThanOrEqual(2000)
    expect(report.durationMs).toBeLessThan(4000)
    // The load ended: `done` carries the same final figures.
    expect(await load.done).toEqual(report)
  })

  it('counts refused and reset requests when the app is killed and restarted', async () => {
    const port = await freePort()
    const v1 = await startApp(port, 'v1')
    const load = startLoad({ urls: [`http://127.0.0.1:${port}/`], slowMs: 2000 })
    await moreAnswers(load, 100, 'v1')
    v1.kill('SIGKILL')
    await waitFor(() => load.snapshot().failuresByKind.ECONNREFUSED, {
      what: 'requests refused while no app listens',
    })
    await startApp(port, 'v2')
    await moreAnswers(load, 100, 'v2')
    const report = await load.stop()
    console.log(`kill -9 + restart: ${formatLoadReport(report)}`)

    expect(report.failed).toBeGreaterThan(0)
    expect(report.transportErrors).toBeGreaterThan(0)
    expect(report.failed).toBe(report.non2xx + report.transportErrors)
    expect(report.requests).toBe(report.ok + report.failed)
    expect(Object.keys(report.failuresByKind).every((k) => /^E[A-Z]+$/.test(k))).toBe(true)
    expect(report.failuresByKind.ECONNREFUSED).toBeGreaterThan(0)
    // The slow request in flight at the kill was reset on its first (fresh) connection.
    expect(report.failuresByKind.ECONNRESET).toBeGreaterThan(0)
    expect(report.failureSamples.length).toBeGreaterThan(0)
    expect(report.failureSamples.length).toBeLessThanOrEqual(20)
    expect(report.failureSamples[0]).toMatch(/^\+\d+ms E[A-Z]+ (GET|POST) http:\/\/127\.0\.0\.1:/)
    expect(report.byVersion.v1).toBeGreaterThan(0)
    expect(report.byVersion.v2).toBeGreaterThan(0)
    expect(formatLoadReport(report)).toMatch(/\nfailures: .*ECONNREFUSED×\d+/)
  })

  it('retries once, and does not count as failed, requests on reused connections closed while idle', async () => {
    // Mimics nginx on reload: every 50 ms, close each keep-alive connection that already served a
    // request and sits between requests (the client may have just sent its next one).
    const sockets = new Map<Socket, { served: boolean; busy: boolean }>()
    const server = createHttpServer((req, res) => {
      const state = sockets.get(req.socket)
      if (state) Object.assign(state, { served: true, busy: true })
      req.resume()
      req.on('end', () => {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'X-App-Version': 'flappy' })
        res.end('ok')
      })
      res.on('finish', () => state && (state.busy = false))
    })
    server.on('connection', (socket: Socket) => {
      sockets.set(socket, { served: false, busy: false })
      socket.on('close', () => sockets.delete(socket))
    })
    const closer = setInterval(() => {
      for (const [socket, state] of sockets) if (state.served && !state.busy) socket.destroy()
    }, 50)
    try {
      const port = await listen(server)
      const load = startLoad({
        urls: [`http://127.0.0.1:${port}/`],
        slowClients: 0,
        pauseMs: 1,
        maxDurationMs: 2000,
      })
      const report = await load.done
      console.log(`idle keep-alive closes: ${formatLoadReport(report)}`)

      expect(report.failed).toBe(0)
      expect(report.failureSamples).toEqual([])
      expect(report.keepAliveRetries).toBeGreaterThan(0)
      expect(report.requests).toBeGreaterThan(100)
      expect(report.byVersion).toEqual({ flappy: report.ok })
      expect(report.durationMs).toBeLessThan(3000)
      // No socket is left open once the load ended (the server sees the last closes shortly).
      await waitFor(() => sockets.size === 0, { what: 'every socket closed', timeoutMs: 1000 })
      expect(sockets.size).toBe(0)
    } finally {
      clearInterval(closer)
    }
  })

  it('counts 5xx as failures and never retries them', async () => {
    let n = 0
    const server = createHttpServer((req, res) => {
      req.resume()
      n += 1
      res.writeHead(n % 10 === 0 ? 502 : 200, { 'X-App-Version': 'v9' }).end('x')
    })
    const port = await listen(server)
    const report = await startLoad({
      urls: [`http://127.0.0.1:${port}/`],
      slowClients: 0,
      maxRequests: 300,
    }).done
    expect(report.requests).toBe(300)
    expect(n).toBe(300)
    expect(report.non2xx).toBe(30)
    expect(report.failuresByKind).toEqual({ '502': 30 })
    expect(report.failed).toBe(30)
    expect(report.keepAliveRetries).toBe(0)
    expect(report.byVersion).toEqual({ v9: 270 })
  })

  it('stop() returns within the request timeout when the server never answers', async () => {
    let received = 0
    const server = createHttpServer(() => void (received += 1)) // accepts, reads, never responds
    const port = await listen(server)
    const load = startLoad({ urls: [`http://127.0.0.1:${port}/`], requestTimeoutMs: 600 })
    await waitFor(() => received > 0, { what: 'a request to hang on the server' })
    const t0 = Date.now()
    const report = await load.stop()
    expect(Date.now() - t0).toBeLessThan(1500)
    expect(report.transportErrors).toBeGreaterThan(0)
    expect(Object.keys(report.failuresByKind)).toEqual(['ETIMEDOUT'])
    expect(report.requests).toBe(report.failed)
    const connections = () => new Promise((r) => server.getConnections((_e, count) => r(count)))
    await waitFor(async () => (await connections()) === 0, {
      what: 'the server to see every connection closed',
      timeoutMs: 1000,
    })
    expect(await connections()).toBe(0)
  })
})
