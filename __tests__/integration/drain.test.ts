/**
 * The drain loop (waitForDrain; finishHost runs the same functions) against real TCP connections
 * on this machine, once with `ss` and once with a PATH without it, where it reads
 * /proc/net/tcp{,6}: both must count the connections whose local port is the slot's, and only
 * those.
 */
import { spawnSync } from 'node:child_process'
import { symlinkSync } from 'node:fs'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DRAIN_TIMED_OUT, drainProgress, waitForDrain } from '../../src/remote/commands/drain.js'
import { tempDir } from '../../test/tmp.js'

/** A PATH with what the drain loop needs but ss. */
function pathWithoutSs(): string {
  const dir = tempDir('drain-path')
  for (const tool of ['sh', 'grep', 'sleep']) {
    const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim()
    symlinkSync(found, join(dir, tool))
  }
  return dir
}

let server: Server
let port: number
const accepted: Socket[] = []
beforeAll(async () => {
  server = createServer((socket) => accepted.push(socket))
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  port = (server.address() as { port: number }).port
})
afterAll(async () => {
  for (const socket of accepted) socket.destroy()
  await new Promise((done) => server.close(done))
})

async function connect(): Promise<Socket> {
  const client = createConnection(port, '127.0.0.1')
  await new Promise((done) => client.once('connect', done))
  return client
}

const drain = (timeoutMs: number, env: NodeJS.ProcessEnv) => {
  const run = spawnSync('/bin/sh', ['-c', waitForDrain(port, timeoutMs, 2).text], {
    encoding: 'utf8',
    env,
  })
  return { exitCode: run.status, lines: run.stdout.trim().split('\n') }
}

describe.each([
  ['with ss', () => process.env],
  ['without ss (/proc/net/tcp)', () => ({ ...process.env, PATH: pathWithoutSs() })],
])('the drain loop %s', (_, env) => {
  it('counts the open connection to the port, then sees it idle once it closed', async () => {
    const client = await connect()
    // The client's own socket has the port as its remote port: not counted.
    const open = drain(2_200, env())
    expect(open.exitCode).toBe(DRAIN_TIMED_OUT)
    expect(open.lines.map(drainProgress)).toEqual([1, undefined])
    expect(open.lines.at(-1)).toBe('1')

    client.destroy()
    for (const socket of accepted.splice(0)) socket.destroy()
    await new Promise((done) => setTimeout(done, 50))
    const idle = drain(2_000, env())
    expect(idle).toEqual({ exitCode: 0, lines: [''] })
  })
})
