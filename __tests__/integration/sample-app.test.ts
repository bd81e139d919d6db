import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { Agent, request, type IncomingHttpHeaders } from 'node:http'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { freePort } from '../../test/free-port.js'
import { waitFor } from '../../test/wait.js'
import { HandshakeRefused, openWebSocket } from '../../test/websocket.js'

const SERVER = resolve(import.meta.dirname, '../../examples/app/server.js')

interface App {
  child: ChildProcess
  port: number
  stdout: () => string
  stderr: () => string
  exited: Promise<number | null>
}

const started: ChildProcess[] = []
const dirs: string[] = []

function releaseDir(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'dzd-sample-app-'))
  dirs.push(dir)
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content)
  return dir
}

/** Starts the sample app in `cwd`; resolves once it listens (or exited, for crash tests). */
async function startApp(env: Record<string, string> = {}, cwd = releaseDir()): Promise<App> {
  const port = await freePort()
  const child = spawn(process.execPath, [SERVER], {
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  started.push(child)
  let out = ''
  let err = ''
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d))
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d))
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  await new Promise<void>((ready, fail) => {
    const timer = setTimeout(() => fail(new Error(`app did not start:\n${out}${err}`)), 5000)
    const check = () => {
      if (!out.includes('listening on')) return
      clearTimeout(timer)
      ready()
    }
    child.stdout?.on('data', check)
    void exited.then(() => (clearTimeout(timer), ready()))
  })
  return { child, port, stdout: () => out, stderr: () => err, exited }
}

interface Reply {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

function http(
  port: number,
  path: string,
  options: {
    method?: string
    body?: string
    headers?: Record<string, string>
    /** Called once the whole request is handed to the kernel. */
    onSent?: () => void
  } = {},
): Promise<Reply> {
  return new Promise((resolveReply, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers },
      (res) => {
        let body = ''
        res.setEncoding('utf8').on('data', (d: string) => (body += d))
        res.on('end', () =>
          resolveReply({ status: res.statusCode ?? 0, headers: res.headers, body }),
        )
        res.on('error', reject)
      },
    )
    req.setTimeout(10_000, () => req.destroy(new Error(`timeout on ${path}`)))
    req.on('error', reject)
    if (options.onSent) req.once('finish', options.onSent)
    req.end(options.body)
  })
}

/**
 * The app on `port` has a connection and has read everything sent on it (Recv-Q 0): node runs the
 * request handler in the same turn as it reads the request, so a request sent is now in flight.
 */
function appReadAll(port: number): boolean {
  const out = execFileSync('ss', ['-Htn', 'state', 'established', `( sport = :${port} )`], {
    encoding: 'utf8',
  })
  const recvQueues = out
    .split('\n')
    .filter(Boolean)
    .map((line) => line.trim().split(/\s+/)[0])
  return recvQueues.length > 0 && recvQueues.every((q) => q === '0')
}

afterEach(() => {
  for (const child of started.splice(0)) if (child.exitCode === null) child.kill('SIGKILL')
})
afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

describe('examples/app/server.js', () => {
  it('answers every endpoint, with version and slot headers', async () => {
    const app = await startApp({ APP_VERSION: 'v1', SLOT: 'blue' })
    expect(app.stdout()).toMatch(/listening on 127\.0\.0\.1:\d+ as v1 \(blue\)/)

    const health = await http(app.port, '/health')
    expect(health).toMatchObject({ status: 200, body: 'ok' })
    expect(health.headers['x-app-version']).toBe('v1')
    expect(health.headers['x-app-slot']).toBe('blue')

    expect(await http(app.port, '/version')).toMatchObject({ status: 200, body: 'v1' })

    const root = await http(app.port, '/')
    expect(root.status).toBe(200)
    expect(root.headers['content-type']).toBe('application/json')
    expect(JSON.parse(root.body)).toEqual({ version: 'v1', slot: 'blue', pid: app.child.pid })

    const t0 = Date.now()
    const slow = await http(app.port, '/slow?ms=300')
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290)
    expect(slow.status).toBe(200)
    expect(JSON.parse(slow.body)).toMatchObject({ version: 'v1', slot: 'blue', pid: app.child.pid })
    expect(slow.headers['x-app-slot']).toBe('blue')

    const echo = await http(app.port, '/echo', {
      method: 'POST',
      body: '{"hello":"world"}',
      headers: { 'Content-Type': 'application/json' },
    })
    expect(echo).toMatchObject({ status: 200, body: '{"hello":"world"}' })
    expect(echo.headers['x-app-version']).toBe('v1')

    for (const [method, path] of [
      ['GET', '/nope'],
      ['POST', '/'],
      ['GET', '/echo'],
    ]) {
      const reply = await http(app.port, path, { method })
      expect(reply.status, `${method} ${path}`).toBe(404)
      expect(reply.headers['x-app-version']).toBe('v1')
      expect(reply.headers['x-app-slot']).toBe('blue')
    }
  })

  it('reports the version from a VERSION file in its working directory over APP_VERSION', async () => {
    const app = await startApp(
      { APP_VERSION: 'v1', SLOT: 'green' },
      releaseDir({ VERSION: 'v2\n' }),
    )
    expect(app.stdout()).toMatch(/ as v2 \(green\)/)
    expect(await http(app.port, '/version')).toMatchObject({ status: 200, body: 'v2' })
    const root = await http(app.port, '/')
    expect(JSON.parse(root.body)).toMatchObject({ version: 'v2', slot: 'green' })
    expect(root.headers['x-app-version']).toBe('v2')
  })

  it('crashes at boot when behaviour.json asks, with exit code 1 and a message', async () => {
    const app = await startApp(
      { APP_VERSION: 'v1' },
      releaseDir({ 'behaviour.json': '{ "crashAtBoot": true }' }),
    )
    expect(await app.exited).toBe(1)
    expect(app.stderr()).toContain('fatal: crashing at boot as asked')
    expect(app.stdout()).not.toContain('listening')
  })

  it('answers /health with healthStatus, the file winning over env', async () => {
    const app = await startApp(
      { APP_VERSION: 'v1', HEALTH_STATUS: '500' },
      releaseDir({ 'behaviour.json': '{ "healthStatus": 503 }' }),
    )
    const health = await http(app.port, '/health')
    expect(health.status).toBe(503)
    expect(health.headers['x-app-version']).toBe('v1')
    expect((await http(app.port, '/version')).status).toBe(200)
  })

  it('waits bootDelayMs before listening', async () => {
    const t0 = Date.now()
    const app = await startApp({ BOOT_DELAY_MS: '400' })
    expect(Date.now() - t0).toBeGreaterThanOrEqual(390)
    expect(app.stdout()).toContain('waiting 400 ms before listening')
    expect(await http(app.port, '/version')).toMatchObject({ status: 200, body: 'dev' })
  })

  it('answers 500 for errorRate of the requests on errorPath only', async () => {
    const app = await startApp({ ERROR_RATE: '0.5', ERROR_PATH: '/' })
    const statuses: number[] = []
    for (let i = 0; i < 10; i++) statuses.push((await http(app.port, '/')).status)
    expect(statuses.filter((s) => s === 500)).toHaveLength(5)
    expect(statuses.filter((s) => s === 200)).toHaveLength(5)
    expect((await http(app.port, '/health')).status).toBe(200)
    expect((await http(app.port, '/version')).status).toBe(200)
  })

  it('on SIGTERM finishes an in-flight slow request, then exits 0', async () => {
    const app = await startApp({ APP_VERSION: 'v3', SLOT: 'green' })
    const t0 = Date.now()
    let sent = false
    const slow = http(app.port, '/slow?ms=1500', { onSent: () => (sent = true) })
    await waitFor(() => sent && appReadAll(app.port), {
      what: 'the app to read the slow request',
      intervalMs: 20,
    })
    app.child.kill('SIGTERM')
    // It stops accepting right away...
    await waitFor(() => app.stdout().includes('SIGTERM: draining'), {
      what: 'the app to log SIGTERM',
      intervalMs: 20,
    })
    await expect(http(app.port, '/health')).rejects.toMatchObject({ code: 'ECONNREFUSED' })
    // ...but the slow request still completes.
    const reply = await slow
    expect(reply.status).toBe(200)
    expect(JSON.parse(reply.body)).toMatchObject({ version: 'v3', slot: 'green' })
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1450)
    expect(await app.exited).toBe(0)
    expect(app.stdout()).toMatch(/SIGTERM: draining 1 connection \(1 request in flight\)/)
    expect(app.stdout()).toContain('drained, exiting')
  })

  it('answers a websocket on /ws with its version and echoes text; a plain GET /ws gets 426', async () => {
    const app = await startApp({ APP_VERSION: 'v2', SLOT: 'green' })
    const ws = await openWebSocket(`http://127.0.0.1:${app.port}/ws`)
    expect(ws.version).toBe('v2')
    ws.send('hello')
    ws.send('x'.repeat(300))
    await waitFor(() => ws.messages.length === 2, { what: 'two echoes' })
    expect(ws.messages).toEqual(['v2: hello', `v2: ${'x'.repeat(300)}`])
    ws.close()
    expect(await ws.closed).toMatchObject({ code: 1000, frame: true })

    const plain = await http(app.port, '/ws')
    expect(plain.status).toBe(426)
    expect(plain.headers.upgrade).toBe('websocket')
    await expect(openWebSocket(`http://127.0.0.1:${app.port}/other`)).rejects.toEqual(
      new HandshakeRefused(404),
    )
  })

  it('on SIGTERM closes every websocket with a close frame (1001) and exits', async () => {
    const app = await startApp({ APP_VERSION: 'v1' })
    const sockets = await Promise.all(
      [1, 2, 3].map(() => openWebSocket(`http://127.0.0.1:${app.port}/ws`)),
    )
    const t0 = Date.now()
    app.child.kill('SIGTERM')
    const closes = await Promise.all(sockets.map((ws) => ws.closed))
    expect(closes.map(({ code, reason, frame }) => ({ code, reason, frame }))).toEqual(
      Array(3).fill({ code: 1001, reason: 'going away', frame: true }),
    )
    expect(await app.exited).toBe(0)
    expect(Date.now() - t0).toBeLessThan(1000)
    expect(app.stdout()).toMatch(
      /SIGTERM: draining 3 connections \(0 requests in flight, 3 websockets\)/,
    )
  })

  it('on SIGTERM closes idle keep-alive connections and exits at once', async () => {
    const app = await startApp()
    // A keep-alive connection left idle must not hold the exit for keepAliveTimeout (5 s).
    const agent = new Agent({ keepAlive: true })
    await new Promise<void>((done, fail) => {
      request({ host: '127.0.0.1', port: app.port, path: '/', agent }, (res) => {
        res.resume().on('end', done)
      })
        .on('error', fail)
        .end()
    })
    const t0 = Date.now()
    app.child.kill('SIGTERM')
    expect(await app.exited).toBe(0)
    expect(Date.now() - t0).toBeLessThan(1000)
    agent.destroy()
  })
})
