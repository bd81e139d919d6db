/**
 * A minimal websocket client for tests (RFC 6455 over node:http, text frames only: Node 20 has
 * no WebSocket client, and the project takes no dependency for it), and a fleet of clients that
 * reconnect whenever their connection closes, as a browser page with a live view does, to
 * measure a deploy from the websocket side: which version each client talks to, whether every
 * close came with a close frame, and how long each client was without a connection.
 */
import { createHash, randomBytes } from 'node:crypto'
import { request } from 'node:http'
import type { Socket } from 'node:net'

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

/** How a connection ended. */
export interface WebSocketClose {
  /** The close frame's code; 1005 for a close frame without one, 1006 for none at all. */
  code: number
  reason: string
  /** The server sent a close frame before the connection ended. */
  frame: boolean
  /** When the connection ended (ms since the epoch). */
  at: number
}

/** The handshake was answered without 101: `status` is what the server (or nginx) said. */
export class HandshakeRefused extends Error {
  constructor(readonly status: number) {
    super(`websocket handshake answered ${status}, not 101`)
  }
}

export interface WebSocket {
  /** The sample app's first message: the version it runs. */
  version: string
  /** Text messages received after the first one. */
  readonly messages: string[]
  /** Settles when the connection ended, however it ended. */
  closed: Promise<WebSocketClose>
  /** Sends a text message (masked, as a client must). */
  send(text: string): void
  /** Starts the closing handshake (code 1000); `closed` settles when the server answered (2 s at most). */
  close(): void
}

/** One masked, unfragmented client frame. */
function frame(opcode: number, payload: Buffer): Buffer {
  const mask = randomBytes(4)
  const n = payload.length
  const head =
    n < 126 ? Buffer.from([0x80 | opcode, 0x80 | n]) : Buffer.from([0x80 | opcode, 0xfe, n >> 8, n])
  const body = Buffer.from(payload)
  for (let i = 0; i < body.length; i++) body[i]! ^= mask[i % 4]!
  return Buffer.concat([head, mask, body])
}

/** The complete frames at the start of `buffer` (server frames: unmasked), and what is left. */
function parseFrames(buffer: Buffer): {
  frames: { opcode: number; payload: Buffer }[]
  rest: Buffer
} {
  const frames: { opcode: number; payload: Buffer }[] = []
  let b = buffer
  for (;;) {
    if (b.length < 2) break
    let length = b[1]! & 0x7f
    let at = 2
    if (length === 126) {
      if (b.length < 4) break
      length = b.readUInt16BE(2)
      at = 4
    } else if (length === 127) {
      if (b.length < 10) break
      length = Number(b.readBigUInt64BE(2))
      at = 10
    }
    if (b.length < at + length) break
    frames.push({ opcode: b[0]! & 0x0f, payload: b.subarray(at, at + length) })
    b = b.subarray(at + length)
  }
  return { frames, rest: b }
}

/**
 * Opens a websocket to `url` (`http://host[:port]/path`, `headers` e.g. a Host), and resolves once
 * the server's first message (the sample app's version) came. Rejects with {@link HandshakeRefused}
 * when the answer is not 101, or with the transport error.
 */
export function openWebSocket(
  url: string,
  options: { headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<WebSocket> {
  const timeoutMs = options.timeoutMs ?? 5000
  const key = randomBytes(16).toString('base64')
  const expected = createHash('sha1')
    .update(key + GUID)
    .digest('base64')
  return new Promise<WebSocket>((resolve, reject) => {
    const req = request(url, {
      headers: {
        ...options.headers,
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Key': key,
        'Sec-WebSocket-Version': '13',
      },
      timeout: timeoutMs,
    })
    req.on('timeout', () =>
      req.destroy(new Error(`no answer to the websocket handshake at ${url} in ${timeoutMs} ms`)),
    )
    req.on('error', reject)
    req.on('response', (res) => {
      res.resume()
      reject(new HandshakeRefused(res.statusCode ?? 0))
    })
    req.on('upgrade', (res, socket: Socket, head: Buffer) => {
      req.setTimeout(0)
      if (res.headers['sec-websocket-accept'] !== expected) {
        socket.destroy()
        return reject(new Error('websocket handshake with a wrong Sec-WebSocket-Accept'))
      }
      resolve(connected(socket, head, timeoutMs))
    })
    req.end()
  })
}

/** The client side of an open connection: resolves with the first message (cut after `timeoutMs`). */
function connected(socket: Socket, head: Buffer, timeoutMs: number): Promise<WebSocket> {
  socket.setNoDelay(true)
  const silent = setTimeout(() => socket.destroy(), timeoutMs)
  let buffer = head
  let closeFrame: { code: number; reason: string } | undefined
  let sentClose = false
  const messages: string[] = []
  let first: (text: string) => void = () => {}
  const firstMessage = new Promise<string>((r) => (first = r))
  let firstSeen = false
  const closed = new Promise<WebSocketClose>((resolve) => {
    socket.once('close', () => {
      clearTimeout(silent)
      resolve({
        code: closeFrame?.code ?? 1006,
        reason: closeFrame?.reason ?? '',
        frame: closeFrame !== undefined,
        at: Date.now(),
      })
    })
  })
  socket.on('error', () => socket.destroy())
  const sendClose = (payload: Buffer) => {
    if (sentClose) return
    sentClose = true
    socket.write(frame(0x8, payload))
  }
  const onData = (chunk: Buffer) => {
    const parsed = parseFrames(Buffer.concat([buffer, chunk]))
    buffer = parsed.rest
    for (const { opcode, payload } of parsed.frames) {
      if (opcode === 0x1) {
        const text = payload.toString('utf8')
        if (firstSeen) messages.push(text)
        else {
          firstSeen = true
          clearTimeout(silent)
          first(text)
        }
      } else if (opcode === 0x8) {
        closeFrame = {
          code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005,
          reason: payload.subarray(2).toString('utf8'),
        }
        // Answer it (the closing handshake); the server then ends the connection.
        sendClose(payload.subarray(0, 2))
      } else if (opcode === 0x9) {
        socket.write(frame(0xa, payload))
      }
    }
  }
  socket.on('data', onData)
  if (head.length > 0) onData(Buffer.alloc(0))
  const ws: WebSocket = {
    version: '',
    messages,
    closed,
    send: (text) => void socket.write(frame(0x1, Buffer.from(text))),
    close: () => {
      const code = Buffer.alloc(2)
      code.writeUInt16BE(1000)
      sendClose(code)
      // A server that never answers is cut.
      setTimeout(() => socket.destroy(), 2000).unref()
    },
  }
  return Promise.race([
    firstMessage.then((version) => Object.assign(ws, { version })),
    closed.then((c) => {
      throw new Error(`websocket closed (${c.code}) before its first message`)
    }),
  ])
}

export interface WebSocketFleetOptions {
  /** Where each client connects, e.g. `http://10.213.5.10/ws`. */
  url: string
  /** Extra request headers (a Host for a name-based site). */
  headers?: Record<string, string>
  clients: number
  /** Pause between a failed attempt and the next one. Default 100 ms. */
  retryMs?: number
  /** Hard limit: the clients stop reconnecting after this long. Default 5 min. */
  maxDurationMs?: number
}

/** One connection of one client, from open to close. */
export interface WebSocketSession {
  client: number
  version: string
  openedAt: number
  close?: WebSocketClose
  /** Closed by the fleet's stop(), not by the server. */
  closedByStop?: boolean
}

export interface WebSocketFleetReport {
  sessions: WebSocketSession[]
  /** Closes the server started (every close but the fleet's own at stop()). */
  closes: WebSocketClose[]
  /** Closes that came without a close frame (the connection was cut). */
  cut: number
  /** Per close code, how many closes (1006: cut). */
  codes: Record<string, number>
  /** Per reconnect, ms from the close to the next open connection. */
  reconnectMs: number[]
  /** Failed attempts to open, by status (HandshakeRefused) or error code. */
  failedOpens: Record<string, number>
  /** The version each client talked to first. */
  firstVersions: string[]
  /** The version each client talked to last. */
  finalVersions: string[]
}

export interface WebSocketFleet {
  /** Every client has an open connection, on `version` if given. */
  allOpen(version?: string): boolean
  report(): WebSocketFleetReport
  /** Closes every connection cleanly (code 1000) and reports. */
  stop(): Promise<WebSocketFleetReport>
}

/**
 * `clients` clients, each holding one connection and opening the next one as soon as it closes
 * (after `retryMs` when an attempt fails), until stop() or `maxDurationMs`.
 */
export function startWebSocketFleet(options: WebSocketFleetOptions): WebSocketFleet {
  const retryMs = options.retryMs ?? 100
  const deadline = Date.now() + (options.maxDurationMs ?? 300_000)
  const sessions: WebSocketSession[] = []
  const open = new Map<number, WebSocket>()
  const reconnectMs: number[] = []
  const failedOpens: Record<string, number> = {}
  let stopping = false
  const running: Promise<void>[] = []

  async function client(id: number): Promise<void> {
    let lastClose: number | undefined
    while (!stopping && Date.now() < deadline) {
      let ws: WebSocket
      try {
        ws = await openWebSocket(options.url, { headers: options.headers })
      } catch (error) {
        const kind =
          error instanceof HandshakeRefused
            ? String(error.status)
            : ((error as NodeJS.ErrnoException).code ?? (error as Error).message)
        failedOpens[kind] = (failedOpens[kind] ?? 0) + 1
        await new Promise((r) => setTimeout(r, retryMs))
        continue
      }
      const session: WebSocketSession = { client: id, version: ws.version, openedAt: Date.now() }
      if (lastClose !== undefined) reconnectMs.push(session.openedAt - lastClose)
      sessions.push(session)
      open.set(id, ws)
      if (stopping) ws.close()
      session.close = await ws.closed
      session.closedByStop = stopping
      open.delete(id)
      lastClose = session.close.at
    }
  }

  for (let id = 0; id < options.clients; id++) running.push(client(id))

  const report = (): WebSocketFleetReport => {
    const closes = sessions.flatMap((s) => (s.close && !s.closedByStop ? [s.close] : []))
    const codes: Record<string, number> = {}
    for (const c of closes) codes[c.code] = (codes[c.code] ?? 0) + 1
    const versions = Array.from({ length: options.clients }, (_, id) =>
      sessions.filter((s) => s.client === id).map((s) => s.version),
    )
    const never = '(never connected)'
    return {
      sessions: [...sessions],
      closes,
      cut: closes.filter((c) => !c.frame).length,
      codes,
      reconnectMs: [...reconnectMs],
      failedOpens: { ...failedOpens },
      firstVersions: versions.map((v) => v[0] ?? never),
      finalVersions: versions.map((v) => v.at(-1) ?? never),
    }
  }
  return {
    allOpen: (version) =>
      open.size === options.clients &&
      [...open.values()].every((ws) => version === undefined || ws.version === version),
    report,
    stop: async () => {
      stopping = true
      for (const ws of open.values()) ws.close()
      await Promise.all(running)
      return report()
    },
  }
}

/** One line for a test's log: sessions, close codes, cuts, slowest reconnect, failed opens. */
export function formatFleetReport(r: WebSocketFleetReport): string {
  const slowest = r.reconnectMs.length === 0 ? 0 : Math.max(...r.reconnectMs)
  return (
    `${r.sessions.length} sessions, ${r.closes.length} closes by the server ` +
    `(codes ${JSON.stringify(r.codes)}, ${r.cut} without a close frame), ` +
    `reconnects ${r.reconnectMs.length} (slowest ${slowest} ms), ` +
    `failed opens ${JSON.stringify(r.failedOpens)}, final versions ${JSON.stringify(countOf(r.finalVersions))}`
  )
}

function countOf(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1
  return counts
}
