import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { connect, createServer, type Socket } from 'node:net'
import { promisify } from 'node:util'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startDelayProxy, startLab, type DelayProxy, type Lab } from '../../test/hosts/index.js'

const exec = promisify(execFile)
const RTT = 100
/** Slack above the added delay for a busy machine (timers and the event loop run late, never early). */
const LATE = 60

/** A TCP server on 127.0.0.1 whose connections `handle` gets; close() destroys them too. */
async function server(
  handle: (s: Socket) => void,
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets: Socket[] = []
  const s = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    sockets.push(socket.on('error', () => {})) // resets are part of the tests
    handle(socket)
  })
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const address = s.address()
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    close: () =>
      new Promise((resolve) => (s.close(() => resolve()), sockets.forEach((x) => x.destroy()))),
  }
}

const connectTo = (port: number) =>
  new Promise<Socket>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true, noDelay: true })
    socket.once('connect', () => resolve(socket)).once('error', reject)
  })

const event = (emitter: Socket, name: string) =>
  new Promise<number>((resolve) => emitter.once(name, () => resolve(performance.now())))

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

describe('delay proxy', () => {
  const cleanup: (() => unknown)[] = []
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f()
  })

  /** A proxy with `rttMs` in front of a server running `handle`. */
  async function proxied(handle: (s: Socket) => void, rttMs = RTT): Promise<DelayProxy> {
    const target = await server(handle)
    cleanup.push(() => target.close())
    const proxy = await startDelayProxy({ target: { host: '127.0.0.1', port: target.port }, rttMs })
    cleanup.push(() => proxy.close())
    return proxy
  }

  it('delays each direction by RTT/2, so an echo takes one RTT', async () => {
    let arrived: Promise<number> | undefined
    const proxy = await proxied((s) => {
      arrived = event(s, 'data')
      s.pipe(s)
    })
    const client = await connectTo(proxy.port)
    cleanup.push(() => client.destroy())
    await until(() => arrived !== undefined, 'the upstream connection')
    const sent = performance.now()
    const echoed = event(client, 'data')
    client.write('ping')
    const there = (await arrived!) - sent
    const back = (await echoed) - sent
    expect(there).toBeGreaterThanOrEqual(RTT / 2)
    expect(there).toBeLessThan(RTT / 2 + LATE)
    expect(back).toBeGreaterThanOrEqual(RTT)
    expect(back).toBeLessThan(RTT + LATE)
  })

  it('pipelines: writes in flight together keep their order and each takes RTT/2', async () => {
    const lines: { text: string; delayMs: number }[] = []
    const proxy = await proxied((s) => {
      let buffered = ''
      s.setEncoding('utf8').on('data', (d: string) => {
        const now = performance.now()
        buffered += d
        const complete = buffered.split('\n')
        buffered = complete.pop()!
        for (const text of complete) lines.push({ text, delayMs: now - Number(text.split(' ')[1]) })
      })
    })
    const client = await connectTo(proxy.port)
    cleanup.push(() => client.destroy())
    for (let i = 0; i < 20; i++) {
      client.write(`${i} ${performance.now()}\n`)
      await sleep(5)
    }
    await until(() => lines.length === 20, '20 lines')
    expect(lines.map((l) => Number(l.text.split(' ')[0]))).toEqual([...Array(20).keys()])
    // 20 writes 5 ms apart, all in flight at once: each arrives RTT/2 after it was written, not
    // after the one before it was delivered (that would be 50, 95, 140, ... ms).
    for (const { delayMs } of lines) {
      expect(delayMs).toBeGreaterThanOrEqual(RTT / 2)
      expect(delayMs).toBeLessThan(RTT / 2 + LATE)
    }
  })

  it('takes a new RTT for what arrives after it changes, in order', async () => {
    const proxy = await proxied((s) => s.pipe(s))
    const client = await connectTo(proxy.port)
    cleanup.push(() => client.destroy())
    let received = ''
    client.setEncoding('utf8').on('data', (d: string) => (received += d))
    const sent = performance.now()
    client.write('slow ')
    await sleep(20) // 'slow ' is at the proxy, due at the server 50 ms after it came
    proxy.rttMs = 20
    client.write('fast')
    await until(() => received === 'slow fast', 'both echoes')
    // 'fast' (due after 10 ms) waits behind 'slow ' (50 ms there); both come back in 10 ms.
    expect(performance.now() - sent).toBeGreaterThanOrEqual(RTT / 2 + 10)
    const again = performance.now()
    client.write('!')
    await until(() => received === 'slow fast!', 'the third echo')
    expect(performance.now() - again).toBeGreaterThanOrEqual(20)
    expect(performance.now() - again).toBeLessThan(20 + LATE)
  })

  it('carries a megabyte each way byte for byte', async () => {
    const proxy = await proxied((s) => s.pipe(s), 20)
    const client = await connectTo(proxy.port)
    cleanup.push(() => client.destroy())
    const data = randomBytes(1 << 20)
    const received: Buffer[] = []
    client.on('data', (d: Buffer) => received.push(d))
    const ended = event(client, 'end')
    for (let at = 0; at < data.length; at += 16384) client.write(data.subarray(at, at + 16384))
    client.end()
    await ended
    expect(Buffer.concat(received).equals(data)).toBe(true)
  })

  it('passes a FIN through after RTT/2 and closes both sides', async () => {
    let upstream: Socket | undefined
    const proxy = await proxied((s) => {
      upstream = s
      s.on('end', () => s.end('bye'))
    })
    const client = await connectTo(proxy.port)
    await until(() => upstream !== undefined, 'the upstream connection')
    const upstreamEnded = event(upstream!, 'end')
    const upstreamClosed = event(upstream!, 'close')
    let reply = ''
    client.setEncoding('utf8').on('data', (d: string) => (reply += d))
    const clientEnded = event(client, 'end')
    const clientClosed = event(client, 'close')
    const sent = performance.now()
    client.end()
    expect((await upstreamEnded) - sent).toBeGreaterThanOrEqual(RTT / 2)
    expect((await clientEnded) - sent).toBeGreaterThanOrEqual(RTT)
    expect(reply).toBe('bye')
    await Promise.all([clientClosed, upstreamClosed])
    await until(() => proxy.connections === 0, 'the proxy to drop the connection')
  })

  it('destroys the other side when one side resets, and close() ends everything', async () => {
    const upstreams: Socket[] = []
    const proxy = await proxied((s) => void upstreams.push(s))
    const first = await connectTo(proxy.port)
    let firstError: NodeJS.ErrnoException | undefined
    first.on('error', (e) => (firstError = e))
    await until(() => upstreams.length === 1, 'the first upstream connection')
    const firstClosed = event(first, 'close')
    upstreams[0]!.resetAndDestroy()
    await firstClosed
    expect(firstError?.code).toBe('ECONNRESET')
    const second = await connectTo(proxy.port)
    second.on('error', () => {})
    await until(() => upstreams.length === 2, 'the second upstream connection')
    const closed = Promise.all([event(second, 'close'), event(upstreams[1]!, 'close')])
    await proxy.close()
    await closed
    expect(proxy.connections).toBe(0)
    await expect(connectTo(proxy.port)).rejects.toThrow(/ECONNREFUSED/)
  })

  it('rejects a negative RTT', async () => {
    await expect(
      startDelayProxy({ target: { host: '127.0.0.1', port: 1 }, rttMs: -1 }),
    ).rejects.toThrow('bad RTT -1 ms')
  })
})

describe('a lab with rttMs', () => {
  let lab: Lab
  beforeAll(async () => {
    lab = await startLab({ hosts: 1, name: 'rtt-test', rttMs: RTT })
  })
  afterAll(() => lab?.stop())

  it('puts the proxy in known_hosts and hosts, and SSH through it pays the RTT', async () => {
    const host = lab.hosts[0]!
    expect(host.ssh.host).toBe('127.0.0.1')
    expect(host.sshTarget).toBe(`127.0.0.1:${host.ssh.port}`)
    expect(host.knownHostsLine).toBe(`[127.0.0.1]:${host.ssh.port} ${host.hostKeyLine}`)
    expect(lab.knownHosts).toBe(`${host.knownHostsLine}\n`)
    const ssh = (port: number, address: string) =>
      exec('ssh', [
        ...['-F', '/dev/null', '-i', lab.privateKeyPath, '-p', String(port)],
        ...['-o', `UserKnownHostsFile=${lab.knownHostsPath}`, '-o', 'StrictHostKeyChecking=yes'],
        ...['-o', 'BatchMode=yes', `root@${address}`, 'hostname'],
      ])
    const started = performance.now()
    const { stdout } = await ssh(host.ssh.port, host.ssh.host)
    const ms = performance.now() - started
    expect(stdout.trim()).toBe('host1')
    // Banner, key exchange, auth, channel, exec: several round trips, none of them free.
    expect(ms).toBeGreaterThanOrEqual(4 * RTT)
    // Straight to the host's address its key is not known: only the proxied name is listed.
    await expect(ssh(22, host.address)).rejects.toThrow(/Host key verification failed/)
  })

  it('changes the RTT of every proxy with setRtt', () => {
    lab.setRtt(50)
    expect(lab.rttMs).toBe(50)
    expect(() => lab.setRtt(-1)).toThrow('bad RTT -1 ms')
  })

  it('closes the proxies when the lab stops', async () => {
    const port = lab.hosts[0]!.ssh.port
    await lab.stop()
    await expect(connectTo(port)).rejects.toThrow(/ECONNREFUSED/)
  })
})
