/**
 * What a host offers the deploy: run commands (with a local file as stdin), reach its ports
 * through the SSH connection. `RemoteHost` (connection.ts) is the real one; the deploy, nginx and
 * load-balancer code take this interface, so that unit tests can give them a fake (test/fake-host.ts).
 */
import type http from 'node:http'
import type { Duplex } from 'node:stream'
import type { HostAddress } from '../inputs/settings.js'
import type { Shell } from '../remote/shell.js'

export interface ExecOptions {
  /** What this command does, for logs and errors ("probe", "extract release", ...). */
  step: string
  stdin?: string
  /** Give up waiting (and close the channel) after this long. Default: no limit. */
  timeoutMs?: number
  /** Receives each line of output (stdout and stderr) as it arrives, besides the transcript. */
  onLine?: (line: string) => void
}

export interface ExecResult {
  /** `null` when the command was cut off (connection lost, timeout, killed by a signal). */
  exitCode: number | null
  stdout: string
  stderr: string
}

export interface HttpResponse {
  status: number
  body: string
  headers: http.IncomingHttpHeaders
}

/** What the deploy lock uses of an open command: its output, its end, closing its stdin. */
export interface ExecChannel {
  on(event: 'data', listener: (chunk: Buffer) => void): unknown
  on(event: 'close', listener: (code: number | null | undefined) => void): unknown
  readonly stderr: { on(event: 'data', listener: (chunk: Buffer) => void): unknown }
  end(): unknown
}

export interface Host {
  /** The host as the user wrote it, used in every message. */
  readonly name: string
  readonly address: HostAddress
  /** Runs a command; a non-zero exit throws a RemoteCommandError naming host, step and stderr. */
  exec(command: Shell, options: ExecOptions): Promise<ExecResult>
  /** Runs a command and returns its exit code instead of throwing. */
  tryExec(command: Shell, options: ExecOptions): Promise<ExecResult>
  /** Starts a command that lives as long as its channel (the deploy lock). */
  openExec(command: Shell, step: string): Promise<ExecChannel>
  /**
   * Runs a command with a local file streamed into its stdin (then `options.stdin`, if given;
   * then stdin is closed), and
   * returns its exit code instead of throwing: one round trip where an upload takes several.
   */
  tryExecWithFile(command: Shell, localPath: string, options: ExecOptions): Promise<ExecResult>
  /** HTTP GET to a port on 127.0.0.1 of the host, through the SSH connection. */
  httpGet(port: number, path: string, timeoutMs: number): Promise<HttpResponse>
  /** A TCP stream to 127.0.0.1:<port> on the host, through the SSH connection. */
  openTunnel(port: number): Promise<Duplex>
}
