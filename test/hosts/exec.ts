import { execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'

/** Result of a finished command. */
export interface RunResult {
  exitCode: number
  stdout: string
  stderr: string
}

export interface RunOptions {
  /** Text written to stdin (an empty stdin otherwise). */
  input?: string
  /** Kill the command (SIGKILL) after this many ms. Default 30 s. */
  timeoutMs?: number
  /** Resolve instead of reject on a non-zero exit code. */
  allowFail?: boolean
  env?: NodeJS.ProcessEnv
}

/** Environment for everything we run inside a host: predictable, no leakage from the test process. */
export const HOST_ENV: NodeJS.ProcessEnv = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/root',
  LANG: 'C.UTF-8',
}

export const quoteArgv = (argv: string[]): string =>
  argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(' ')

/** Error thrown by {@link run} for a non-zero exit or a timeout; carries the output. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly result: RunResult,
  ) {
    super(message)
    this.name = 'CommandError'
  }
}

/**
 * Runs argv (no shell) and collects its output. Resolves shortly after the process exits even if a
 * background child it left behind still holds stdout/stderr open.
 */
export function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv
  const timeoutMs = opts.timeoutMs ?? 30_000
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env })
    let stdout = ''
    let stderr = ''
    let timedOut = false
    const killer = setTimeout(() => ((timedOut = true), child.kill('SIGKILL')), timeoutMs)
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.stdin.on('error', () => {}).end(opts.input)
    child.on('error', (err) => (clearTimeout(killer), reject(err)))
    child.on('exit', (code, signal) => {
      clearTimeout(killer)
      let done = false
      const finish = () => {
        if (done) return
        done = true
        child.stdout.destroy()
        child.stderr.destroy()
        const result = { exitCode: code ?? -1, stdout, stderr }
        const what = quoteArgv(argv).slice(0, 300)
        if (timedOut) reject(new CommandError(`timed out after ${timeoutMs} ms: ${what}`, result))
        else if (signal) reject(new CommandError(`killed by ${signal}: ${what}`, result))
        else if (code !== 0 && !opts.allowFail) {
          reject(new CommandError(`exit code ${code}: ${what}\n${stderr.trim()}`, result))
        } else resolve(result)
      }
      // 'close' normally follows at once; don't wait for orphans that still hold the pipes.
      const grace = setTimeout(finish, 200)
      child.once('close', () => (clearTimeout(grace), finish()))
    })
  })
}

/** Synchronous best-effort run for teardown paths (exit handlers): returns stdout, '' on failure. */
export function runSync(argv: string[]): string {
  try {
    return execFileSync(argv[0], argv.slice(1), {
      encoding: 'utf8',
      stdio: 'pipe',
      timeout: 10_000,
    })
  } catch {
    return ''
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

/** Last `lines` lines of a file, or a note that it does not exist. */
export function tail(path: string, lines = 25): string {
  try {
    const text = readFileSync(path, 'utf8').trimEnd()
    return `--- ${path}\n${text.split('\n').slice(-lines).join('\n')}`
  } catch {
    return `--- ${path} (missing)`
  }
}
