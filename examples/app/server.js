// Sample app for the demo, the tests and the benchmarks. Plain Node, no dependencies.
//
// Env (set by the deploy tool): PORT, SLOT, APP_VERSION, RELEASE_DIR, DEPLOY_PATH, RELEASE_NODE.
// A VERSION file in the working directory (the release dir) overrides APP_VERSION, so the release
// content decides which version the app reports.
//
// Endpoints: GET /health, GET /version, GET /, GET /slow?ms=2000, POST /echo; anything else 404.
// GET /page: a page as a fingerprinting build renders it, naming its bundle from the manifest
// public/assets/.manifest.json (`{"app.js": "app-<hash>.js"}`): `<script src="/assets/...">`;
// GET /assets/<name>: the file public/assets/<name> of the working directory (404 when missing).
// Every response carries X-App-Version and X-App-Slot.
// GET /ws with `Upgrade: websocket` (RFC 6455, text frames): says its version once open, then
// answers each text message with `<version>: <message>`; without the upgrade it answers 426.
//
// Test hooks, from env or from behaviour.json in the working directory (the file wins, key by key):
//   bootDelayMs   (BOOT_DELAY_MS)    wait this long before listening
//   crashAtBoot   (CRASH_AT_BOOT)    print a fatal line to stderr and exit 1 right away
//   healthStatus  (HEALTH_STATUS)    /health always answers this status (e.g. 503)
//   unhealthyAfterMs (UNHEALTHY_AFTER_MS) /health answers 503 once the process ran this long
//   errorRate     (ERROR_RATE)       answer 500 for this share (0..1) of requests on errorPath
//   errorPath     (ERROR_PATH)       the path errorRate applies to (default: every path but /health)
//   rootDelayMs   (ROOT_DELAY_MS)    answer GET / this much later (a slow release, /health still fast)
//   ignoreSigterm (IGNORE_SIGTERM)   log SIGTERM and keep serving (to exercise stop-timeout/SIGKILL)
//   exitAfterMs   (EXIT_AFTER_MS)    crash (exit 1) this long after listening: healthy, then gone
//
// SIGTERM / SIGINT: stop accepting, let in-flight requests (slow ones too) finish, close idle
// keep-alive connections, close every websocket with a close frame (1001 "going away", so its
// client reconnects, to the new version once nginx sends it there), exit 0.
// KEEP_ALIVE_TIMEOUT_MS (default 5000) sets the keep-alive timeout.
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'

const MAX_SLOW_MS = 30_000
const MAX_ECHO_BYTES = 1024 * 1024
const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
const MAX_MESSAGE_BYTES = 64 * 1024
/** After its close frame, how long a websocket waits for the client's before it is cut. */
const CLOSE_WAIT_MS = 2000

function log(message) {
  process.stdout.write(`${new Date().toISOString()} [pid ${process.pid}] ${message}\n`)
}

function fatal(message) {
  process.stderr.write(`fatal: ${message}\n`)
  process.exit(1)
}

function readVersion() {
  if (existsSync('VERSION')) {
    const fromFile = readFileSync('VERSION', 'utf8').trim()
    if (fromFile) return fromFile
  }
  return process.env.APP_VERSION || 'dev'
}

function envBool(value) {
  return value !== undefined && /^(1|true|yes|on)$/i.test(value.trim())
}

function envNumber(value) {
  if (value === undefined || value.trim() === '') return undefined
  const n = Number(value)
  return Number.isFinite(n) ? n : undefined
}

function readBehaviour() {
  const env = process.env
  const fromEnv = {
    bootDelayMs: envNumber(env.BOOT_DELAY_MS),
    crashAtBoot: envBool(env.CRASH_AT_BOOT),
    healthStatus: envNumber(env.HEALTH_STATUS),
    unhealthyAfterMs: envNumber(env.UNHEALTHY_AFTER_MS),
    errorRate: envNumber(env.ERROR_RATE),
    errorPath: env.ERROR_PATH || undefined,
    rootDelayMs: envNumber(env.ROOT_DELAY_MS),
    ignoreSigterm: envBool(env.IGNORE_SIGTERM),
    exitAfterMs: envNumber(env.EXIT_AFTER_MS),
  }
  let fromFile = {}
  if (existsSync('behaviour.json')) {
    try {
      fromFile = JSON.parse(readFileSync('behaviour.json', 'utf8'))
    } catch (err) {
      fatal(`behaviour.json is not valid JSON: ${err.message}`)
    }
    if (typeof fromFile !== 'object' || fromFile === null || Array.isArray(fromFile)) {
      fatal('behaviour.json must hold a JSON object')
    }
  }
  const merged = { ...fromEnv }
  for (const [key, value] of Object.entries(fromFile)) {
    if (value !== undefined && value !== null) merged[key] = value
  }
  return {
    bootDelayMs: Math.max(0, Number(merged.bootDelayMs) || 0),
    crashAtBoot: merged.crashAtBoot === true || merged.crashAtBoot === 'true',
    healthStatus: Number(merged.healthStatus) || 200,
    unhealthyAfterMs: Number(merged.unhealthyAfterMs) || Infinity,
    errorRate: Math.min(1, Math.max(0, Number(merged.errorRate) || 0)),
    errorPath: typeof merged.errorPath === 'string' ? merged.errorPath : undefined,
    rootDelayMs: Math.max(0, Number(merged.rootDelayMs) || 0),
    ignoreSigterm: merged.ignoreSigterm === true || merged.ignoreSigterm === 'true',
    exitAfterMs: Math.max(0, Number(merged.exitAfterMs) || 0),
  }
}

const behaviour = readBehaviour()
if (behaviour.crashAtBoot) {
  process.stderr.write('fatal: crashing at boot as asked\n')
  process.exit(1)
}

const version = readVersion()
const slot = process.env.SLOT || 'none'
const host = process.env.HOST || '127.0.0.1'
const port = Number(process.env.PORT || 3000)
if (!Number.isInteger(port) || port < 0 || port > 65535)
  fatal(`PORT is not a port: ${process.env.PORT}`)

let draining = false
let inFlight = 0
const connections = new Set()
// Deterministic error injection: after n requests on the error path, exactly floor(n * rate) got 500.
let errorPathRequests = 0
let errorPathErrors = 0

function send(res, status, body, contentType = 'text/plain; charset=utf-8') {
  if (res.writableEnded || res.destroyed) return
  const payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body)
  if (typeof body === 'object' && !Buffer.isBuffer(body)) contentType = 'application/json'
  if (draining) res.setHeader('Connection', 'close')
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(payload),
  })
  res.end(payload)
}

const ASSETS = 'public/assets'

function page(res) {
  let bundle = 'app.js'
  try {
    bundle = JSON.parse(readFileSync(`${ASSETS}/.manifest.json`, 'utf8'))['app.js'] ?? bundle
  } catch {
    // no manifest: the undigested name
  }
  return send(res, 200, `<script src="/assets/${bundle}"></script>\n`, 'text/html; charset=utf-8')
}

function asset(res, name) {
  if (name.split('/').some((part) => part === '' || part === '..'))
    return send(res, 404, 'not found\n')
  let body
  try {
    body = readFileSync(`${ASSETS}/${name}`)
  } catch {
    return send(res, 404, 'not found\n')
  }
  return send(res, 200, body, 'text/javascript')
}

function injectError(path) {
  if (behaviour.errorRate <= 0) return false
  const applies = behaviour.errorPath ? path === behaviour.errorPath : path !== '/health'
  if (!applies) return false
  errorPathRequests += 1
  if (Math.floor(errorPathRequests * behaviour.errorRate) > errorPathErrors) {
    errorPathErrors += 1
    return true
  }
  return false
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

function info() {
  return { version, slot, pid: process.pid }
}

function handle(req, res) {
  const url = new URL(req.url ?? '/', 'http://localhost')
  const path = url.pathname
  const method = req.method ?? 'GET'
  const isGet = method === 'GET' || method === 'HEAD'
  res.setHeader('X-App-Version', version)
  res.setHeader('X-App-Slot', slot)

  if (injectError(path)) {
    req.resume()
    return send(res, 500, 'injected error\n')
  }

  if (isGet && path === '/health') {
    const status = performance.now() >= behaviour.unhealthyAfterMs ? 503 : behaviour.healthStatus
    return send(res, status, status < 400 ? 'ok' : 'unhealthy')
  }
  if (isGet && path === '/version') return send(res, 200, version)
  if (isGet && path === '/ws') {
    // A proxy that drops the Upgrade header (nginx without `proxy_set_header Upgrade`) lands here.
    res.setHeader('Upgrade', 'websocket')
    return send(res, 426, 'websocket upgrade required\n')
  }
  if (isGet && path === '/') {
    if (behaviour.rootDelayMs === 0) return send(res, 200, info())
    const timer = setTimeout(() => send(res, 200, info()), behaviour.rootDelayMs)
    res.once('close', () => clearTimeout(timer))
    return undefined
  }
  if (isGet && path === '/page') return page(res)
  if (isGet && path.startsWith('/assets/')) return asset(res, path.slice('/assets/'.length))
  if (isGet && path === '/slow') {
    const asked = Number(url.searchParams.get('ms') ?? 2000)
    const ms = Math.min(MAX_SLOW_MS, Math.max(0, Number.isFinite(asked) ? asked : 2000))
    const timer = setTimeout(() => send(res, 200, { ...info(), sleptMs: ms }), ms)
    res.once('close', () => clearTimeout(timer))
    return undefined
  }
  if (method === 'POST' && path === '/echo') {
    const chunks = []
    let size = 0
    req.on('data', (chunk) => {
      size += chunk.length
      if (size <= MAX_ECHO_BYTES) chunks.push(chunk)
    })
    req.on('end', () => {
      if (size > MAX_ECHO_BYTES) return send(res, 413, 'body too large\n')
      const type = req.headers['content-type'] || 'application/octet-stream'
      return send(res, 200, Buffer.concat(chunks), type)
    })
    return undefined
  }
  req.resume()
  return send(res, 404, 'not found\n')
}

const server = createServer((req, res) => {
  inFlight += 1
  let counted = true
  const done = () => {
    if (!counted) return
    counted = false
    inFlight -= 1
    if (draining) maybeFinishDrain()
  }
  res.once('finish', done)
  res.once('close', done)
  try {
    handle(req, res)
  } catch (err) {
    log(`error handling ${req.method} ${req.url}: ${err?.stack ?? err}`)
    if (!res.headersSent) send(res, 500, 'internal error\n')
    else res.destroy()
  }
})
server.keepAliveTimeout = Number(process.env.KEEP_ALIVE_TIMEOUT_MS) || 5000

server.on('connection', (socket) => {
  connections.add(socket)
  socket.once('close', () => connections.delete(socket))
})

server.on('error', (err) => fatal(`cannot listen on ${host}:${port}: ${err.message}`))

/** Open websockets: each closed with a close frame on SIGTERM. */
const websockets = new Set()

/** One unfragmented, unmasked frame (server to client). */
function frame(opcode, payload = Buffer.alloc(0)) {
  const n = payload.length
  const head =
    n < 126
      ? Buffer.from([0x80 | opcode, n])
      : n < 65536
        ? Buffer.from([0x80 | opcode, 126, n >> 8, n & 0xff])
        : Buffer.concat([Buffer.from([0x80 | opcode, 127]), bigEndian64(n)])
  return Buffer.concat([head, payload])
}

function bigEndian64(n) {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(BigInt(n))
  return b
}

function closeFrame(code, reason) {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason))
  payload.writeUInt16BE(code)
  payload.write(reason, 2)
  return frame(0x8, payload)
}

/** Sends a close frame (once), then waits CLOSE_WAIT_MS for the client's before cutting. */
function closeWebsocket(ws, code, reason) {
  if (ws.closing) return
  ws.closing = true
  ws.socket.write(closeFrame(code, reason))
  setTimeout(() => ws.socket.destroy(), CLOSE_WAIT_MS).unref()
}

/**
 * The frames a client sent so far: masked, unfragmented. Text is answered, ping ponged, close
 * answered with a close frame and the connection ended; anything else closes with 1003.
 */
function readFrames(ws) {
  for (;;) {
    const b = ws.buffer
    if (b.length < 2) return
    const fin = (b[0] & 0x80) !== 0
    const opcode = b[0] & 0x0f
    const masked = (b[1] & 0x80) !== 0
    let length = b[1] & 0x7f
    let at = 2
    if (length === 126) {
      if (b.length < 4) return
      length = b.readUInt16BE(2)
      at = 4
    } else if (length === 127) {
      if (b.length < 10) return
      length = Number(b.readBigUInt64BE(2))
      at = 10
    }
    if (!masked) return closeWebsocket(ws, 1002, 'client frames must be masked')
    if (length > MAX_MESSAGE_BYTES) return closeWebsocket(ws, 1009, 'message too big')
    if (b.length < at + 4 + length) return
    const mask = b.subarray(at, at + 4)
    const payload = Buffer.from(b.subarray(at + 4, at + 4 + length))
    for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4]
    ws.buffer = b.subarray(at + 4 + length)
    if (!fin || opcode === 0x0) return closeWebsocket(ws, 1003, 'fragmented messages unsupported')
    if (opcode === 0x8) {
      // The client's close (or its answer to ours): answer it once, then end the connection.
      if (!ws.closing) ws.socket.write(frame(0x8, payload.subarray(0, 2)))
      ws.closing = true
      ws.socket.end()
      return
    }
    if (ws.closing) continue
    if (opcode === 0x1) ws.socket.write(frame(0x1, Buffer.from(`${version}: ${payload}`)))
    else if (opcode === 0x9) ws.socket.write(frame(0xa, payload))
    else if (opcode !== 0xa) return closeWebsocket(ws, 1003, 'only text messages')
  }
}

server.on('upgrade', (req, socket, head) => {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname
  const key = req.headers['sec-websocket-key']
  const upgrade = String(req.headers.upgrade ?? '').toLowerCase()
  const refuse = (status) => {
    const text = `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`
    socket.end(text)
  }
  if (draining) return refuse('503 Service Unavailable')
  if (path !== '/ws' || req.method !== 'GET') return refuse('404 Not Found')
  if (upgrade !== 'websocket' || typeof key !== 'string') return refuse('400 Bad Request')
  if (req.headers['sec-websocket-version'] !== '13') return refuse('426 Upgrade Required')
  const accept = createHash('sha1')
    .update(key + WEBSOCKET_GUID)
    .digest('base64')
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${accept}\r\nX-App-Version: ${version}\r\nX-App-Slot: ${slot}\r\n\r\n`,
  )
  const ws = { socket, buffer: head, closing: false }
  websockets.add(ws)
  socket.setNoDelay(true)
  socket.on('data', (chunk) => {
    ws.buffer = Buffer.concat([ws.buffer, chunk])
    readFrames(ws)
  })
  socket.on('error', () => socket.destroy())
  socket.once('close', () => websockets.delete(ws))
  socket.write(frame(0x1, Buffer.from(version)))
  readFrames(ws)
})

function maybeFinishDrain() {
  // Keep-alive connections that went idle after their last response: close them now.
  server.closeIdleConnections()
  if (inFlight === 0 && connections.size > 0) server.closeAllConnections()
}

function shutdown(signal) {
  if (draining) {
    log(`${signal}: already draining (${plural(inFlight, 'request')} in flight)`)
    return
  }
  if (signal === 'SIGTERM' && behaviour.ignoreSigterm) {
    log('SIGTERM: ignored as asked (ignoreSigterm)')
    return
  }
  draining = true
  log(
    `${signal}: draining ${plural(connections.size, 'connection')} (${plural(inFlight, 'request')} in flight${websockets.size > 0 ? `, ${plural(websockets.size, 'websocket')}` : ''})`,
  )
  for (const ws of websockets) closeWebsocket(ws, 1001, 'going away')
  if (!server.listening) {
    log('stopped before listening')
    process.exit(0)
  }
  server.close(() => {
    log('drained, exiting')
    process.exit(0)
  })
  maybeFinishDrain()
}

process.on('SIGTERM', () => shutdown('SIGTERM'))
process.on('SIGINT', () => shutdown('SIGINT'))

function listen() {
  if (draining) return
  server.listen(port, host, () => {
    const address = server.address()
    const shown = typeof address === 'object' && address ? address.port : port
    log(`listening on ${host}:${shown} as ${version} (${slot})`)
    if (behaviour.exitAfterMs > 0) {
      setTimeout(
        () => fatal(`crashing ${behaviour.exitAfterMs} ms after listening, as asked`),
        behaviour.exitAfterMs,
      )
    }
  })
}

if (behaviour.bootDelayMs > 0) {
  log(`booting ${version} (${slot}): waiting ${behaviour.bootDelayMs} ms before listening`)
  setTimeout(listen, behaviour.bootDelayMs)
} else {
  listen()
}
