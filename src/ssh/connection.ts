/**
 * One SSH connection to one host: connect (strict host keys, optional jump host), run commands
 * (one with a local file streamed into its stdin), and make HTTP requests to ports on the host
 * through the SSH connection.
 */
import { createReadStream } from 'node:fs'
import http from 'node:http'
import { StringDecoder } from 'node:string_decoder'
import type { Duplex } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { NodeSSH, type Config } from 'node-ssh'
import type { ClientChannel } from 'ssh2'
import { HostError, RemoteCommandError, errorMessage } from '../common/errors.js'
import type { HostAddress } from '../inputs/settings.js'
import type { Shell } from '../remote/shell.js'
import { endpoint } from './host-address.js'
import type { ExecOptions, ExecResult, Host, HttpResponse } from './host.js'
import {
  keysForHost,
  preferredHostKeyAlgorithms,
  verifyHostKey,
  type KnownHostEntry,
} from './known-hosts.js'

export interface SshOptions {
  privateKey: string
  passphrase: string
  /** The input `privateKey` came from, named when a host rejects it. Default 'ssh-key'. */
  keyInput?: 'ssh-key' | 'proxy-key'
  /** Entries to verify host keys against; `null` skips the check (insecure-ignore-host-key). */
  knownHosts: KnownHostEntry[] | null
  connectTimeoutMs: number
  /** Interval of SSH keepalive probes; 3 missed probes drop the connection. */
  keepaliveIntervalMs: number
}

export type { ExecOptions, ExecResult, HttpResponse } from './host.js'

/** Receives the transcript: each command run and each line of its output, prefixed with the step. */
export type LineSink = (line: string) => void

const CONNECT_ATTEMPTS = 3
const HTTP_BODY_LIMIT = 64 * 1024
/** Errors where a second attempt may succeed: the host was busy or restarting, not misconfigured. */
const TRANSIENT =
  /ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|Connection lost before handshake/

export class RemoteHost implements Host {
  private constructor(
    readonly address: HostAddress,
    private readonly ssh: NodeSSH,
    private readonly log: LineSink,
  ) {}

  /** The host as the user wrote it, used in every message. */
  get name(): string {
    return this.address.label
  }

  /**
   * Connects with retries (jittered backoff) for transient network errors only; host-key and
   * authentication failures fail at once. `via` is an open connection to a jump host.
   */
  static async connect(
    address: HostAddress,
    options: SshOptions,
    extra: { via?: RemoteHost; log?: LineSink } = {},
  ): Promise<RemoteHost> {
    for (let attempt = 1; ; attempt++) {
      try {
        const ssh = await openSsh(address, options, extra.via)
        return new RemoteHost(address, ssh, extra.log ?? (() => {}))
      } catch (error) {
        const retry = attempt < CONNECT_ATTEMPTS && TRANSIENT.test(errorMessage(error))
        if (!retry) throw error
        await sleep(250 * 2 ** attempt * (0.5 + Math.random()))
      }
    }
  }

  /** Runs a command; a non-zero exit throws a RemoteCommandError naming host, step and stderr. */
  async exec(command: Shell, options: ExecOptions): Promise<ExecResult> {
    const result = await this.tryExec(command, options)
    if (result.exitCode !== 0) {
      throw new RemoteCommandError(this.name, options.step, result.exitCode, result.stderr)
    }
    return result
  }

  /** Runs a command and returns its exit code instead of throwing. */
  async tryExec(command: Shell, options: ExecOptions): Promise<ExecResult> {
    const channel = await this.openExec(command, options.step)
    return collect(channel, options, (line) => {
      this.log(`${options.step}: ${line}`)
      options.onLine?.(line)
    })
  }

  /**
   * Runs a command with the local file streamed into its stdin, then `options.stdin` (if any),
   * then stdin is closed; returns
   * its exit code (null: cut off) and output. A file that cannot be read cuts the command off
   * (its stdin is never closed normally, so it sees no complete input), with the reason in stderr.
   */
  async tryExecWithFile(
    command: Shell,
    localPath: string,
    options: ExecOptions,
  ): Promise<ExecResult> {
    const channel = await this.openExec(command, options.step)
    const file = createReadStream(localPath)
    let readError = ''
    file.on('error', (error) => {
      readError = `\ncannot read ${localPath}: ${error.message}\n`
      channel.signal('KILL')
      channel.close()
    })
    const result = collect(
      channel,
      options,
      (line) => {
        this.log(`${options.step}: ${line}`)
        options.onLine?.(line)
      },
      () => {
        file.pipe(channel, { end: false })
        file.on('end', () => channel.end(options.stdin))
      },
    )
    const settled = await result
    return readError ? { ...settled, exitCode: null, stderr: settled.stderr + readError } : settled
  }

  /**
   * Starts a command and returns its open channel, for commands that must live as long as the
   * connection (the deploy lock). Closing the channel or the connection ends them.
   */
  async openExec(command: Shell, step: string): Promise<ClientChannel> {
    this.log(`${step}: $ ${command.text}`)
    const client = this.client(step)
    return new Promise((resolve, reject) => {
      client.exec(command.text, (error, channel) =>
        error ? reject(new HostError(this.name, step, error.message)) : resolve(channel),
      )
    })
  }

  /**
   * HTTP GET to a port on 127.0.0.1 of the host, carried inside the SSH connection,
   * so the host needs no curl and the port needs no firewall opening.
   */
  async httpGet(port: number, path: string, timeoutMs: number): Promise<HttpResponse> {
    const tunnel = await this.openTunnel(port)
    const where = `port ${port}`
    return new Promise((resolve, reject) => {
      // An SSH channel is not a net.Socket (no setTimeout), so the deadline is a plain timer.
      const timer = setTimeout(
        () => request.destroy(new Error(`no response from ${where} within ${timeoutMs} ms`)),
        timeoutMs,
      )
      const settle =
        <T>(fn: (value: T) => void) =>
        (value: T) => {
          clearTimeout(timer)
          fn(value)
        }
      const request = http.request(
        {
          method: 'GET',
          path,
          headers: { host: 'localhost', connection: 'close' },
          // No `agent` key: with createConnection given, node then uses the tunnel directly.
          createConnection: () => tunnel,
        },
        (response) => {
          const decoder = new StringDecoder('utf8')
          let body = ''
          response.on('data', (chunk: Buffer) => {
            if (body.length < HTTP_BODY_LIMIT) body += decoder.write(chunk)
          })
          response.on(
            'end',
            settle(() =>
              resolve({ status: response.statusCode ?? 0, body, headers: response.headers }),
            ),
          )
          response.on('error', settle(reject))
        },
      )
      request.on(
        'error',
        settle((error: Error) => {
          tunnel.destroy()
          reject(error)
        }),
      )
      request.end()
    })
  }

  /** A TCP stream to 127.0.0.1:<port> on the host, through the SSH connection. */
  async openTunnel(port: number): Promise<Duplex> {
    try {
      return await this.ssh.forwardOut('127.0.0.1', 0, '127.0.0.1', port)
    } catch (error) {
      throw new Error(
        `cannot open a tunnel to port ${port} on ${this.name}: ${errorMessage(error)}`,
        { cause: error },
      )
    }
  }

  /** A TCP stream from the host to another address (used to reach hosts behind a jump host). */
  async forwardTo(target: HostAddress): Promise<Duplex> {
    try {
      return await this.ssh.forwardOut('127.0.0.1', 0, target.host, target.port)
    } catch (error) {
      const reason = errorMessage(error)
      throw new HostError(
        target.label,
        'connect',
        `jump host ${this.name} cannot reach it: ${reason}`,
      )
    }
  }

  dispose(): void {
    this.ssh.dispose()
  }

  private client(step: string) {
    const client = this.ssh.connection
    if (!client) throw new HostError(this.name, step, 'SSH connection is closed')
    return client
  }
}

async function openSsh(
  target: HostAddress,
  options: SshOptions,
  via?: RemoteHost,
): Promise<NodeSSH> {
  let hostKeyProblem: string | undefined
  const known = options.knownHosts
  const config: Config = {
    ...(via ? { sock: await via.forwardTo(target) } : { host: target.host }),
    port: target.port,
    username: target.user,
    privateKey: options.privateKey,
    passphrase: options.passphrase || undefined,
    // The key only: ssh2 otherwise asks for 'none' first, one round trip per connection.
    authHandler: ['publickey'],
    readyTimeout: options.connectTimeoutMs,
    keepaliveInterval: options.keepaliveIntervalMs,
    keepaliveCountMax: 3,
    algorithms: known
      ? { serverHostKey: preferredHostKeyAlgorithms(keysForHost(known, target.host, target.port)) }
      : undefined,
    hostVerifier: (key: Buffer) => {
      if (!known) return true
      const verdict = verifyHostKey(known, target.host, target.port, key)
      if (!verdict.ok) hostKeyProblem = verdict.message
      return verdict.ok
    },
  }
  const ssh = new NodeSSH()
  try {
    await ssh.connect(config as Config)
  } catch (error) {
    ssh.dispose()
    throw new HostError(
      target.label,
      'connect',
      hostKeyProblem ?? describeConnectError(target, options, error),
    )
  }
  // After `ready`, node-ssh stops listening for errors; without a listener a dropped connection
  // would crash the process. Commands in flight see their channel close instead.
  ssh.connection?.on('error', () => {})
  // Commands are many small request/answer exchanges: without TCP_NODELAY, Nagle's algorithm
  // and delayed ACKs add ~40 ms to each of them.
  ssh.connection?.setNoDelay(true)
  return ssh
}

function describeConnectError(target: HostAddress, options: SshOptions, error: unknown): string {
  const reason = errorMessage(error)
  const where = `${target.user}@${endpoint(target)}`
  if (/Timed out while waiting for handshake|ETIMEDOUT|No response from server/.test(reason)) {
    return `no SSH answer from ${where} within ${options.connectTimeoutMs / 1000}s (connect-timeout); is the host up and port ${target.port} reachable?`
  }
  if (/All configured authentication methods failed/.test(reason)) {
    return `${where} rejected the key (${options.keyInput ?? 'ssh-key'}): is its public key in ~${target.user}/.ssh/authorized_keys?`
  }
  return `cannot connect to ${where}: ${reason}`
}

function collect(
  channel: ClientChannel,
  options: ExecOptions,
  log: LineSink,
  /** Writes the command's stdin and closes it; default: options.stdin. */
  feed: () => void = () => channel.end(options.stdin),
): Promise<ExecResult> {
  return new Promise((resolve) => {
    const stdout = new OutputBuffer(log)
    const stderr = new OutputBuffer(log)
    let exitCode: number | null = null
    const finish = () => {
      clearTimeout(timer)
      resolve({ exitCode, stdout: stdout.end(), stderr: stderr.end() })
    }
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            // sshd keeps a session open until its command exits: kill the command, then stop waiting.
            channel.signal('KILL')
            channel.close()
            stderr.push(Buffer.from(`\n(timed out after ${options.timeoutMs} ms)\n`))
            exitCode = null
            channel.removeAllListeners('close')
            finish()
          }, options.timeoutMs)
    channel.on('data', (chunk: Buffer) => stdout.push(chunk))
    channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
    // ssh2 emits 'exit' as soon as the packet arrives, possibly before these listeners exist
    // (when the whole answer comes in one read); 'close' carries the same exit code.
    channel.on('close', (code: number | null | undefined) => {
      exitCode = typeof code === 'number' ? code : null
      finish()
    })
    feed()
  })
}

/** Collects a stream's output as text (multi-byte characters may span chunks) and logs lines. */
class OutputBuffer {
  private readonly decoder = new StringDecoder('utf8')
  private text = ''
  private pending = ''

  constructor(private readonly log: LineSink) {}

  push(chunk: Buffer): void {
    const piece = this.decoder.write(chunk)
    this.text += piece
    const lines = (this.pending + piece).split('\n')
    this.pending = lines.pop() ?? ''
    lines.forEach((line) => this.log(line))
  }

  end(): string {
    const rest = this.decoder.end()
    this.text += rest
    if (this.pending + rest) this.log(this.pending + rest)
    return this.text
  }
}
