/**
 * A fake {@link Host} for unit tests of deploy/, nginx/ and strategies/: it runs nothing, records
 * every command (step name and script text, in order) and answers by rules. A rule can fail a
 * step on cue the way the real host does: `exec` throws the same RemoteCommandError
 * `RemoteHost.exec` throws for a non-zero exit; `tryExec` returns the exit code.
 *
 *     const host = new FakeHost('web1', [{ match: 'switch: install upstream and test nginx', exitCode: 1, stderr: 'nginx: [emerg] ...' }])
 *     ... run the code under test ...
 *     expect(host.steps()).toEqual(['switch: install upstream and test nginx', 'switch: restore upstream'])
 */
import { EventEmitter } from 'node:events'
import type { Duplex } from 'node:stream'
import { RemoteCommandError } from '../src/common/errors.js'
import { prepareRequest } from '../src/deploy/host-state.js'
import type { HostAddress, Settings } from '../src/inputs/settings.js'
import { VERIFY_HEADER } from '../src/nginx/render.js'
import { LOCK_ACQUIRED } from '../src/remote/commands/lock.js'
import { PREPARE_READY } from '../src/remote/commands/prepare.js'
import { layout } from '../src/remote/layout.js'
import type { Shell } from '../src/remote/shell.js'
import type { ExecChannel, ExecOptions, ExecResult, Host, HttpResponse } from '../src/ssh/host.js'

/** How the fake answers the commands a rule matches. */
export interface FakeRule {
  /** A step name (exact), or a pattern tested against the step name and the command text. */
  match: string | RegExp
  exitCode?: number | null
  stdout?: string
  stderr?: string
  /** Thrown instead of answering (a lost connection). */
  error?: Error
  /** Applies to this many matching commands only (then the next matching rule, or the default). */
  times?: number
}

/** One command the fake was given. */
export interface RecordedCommand {
  /** exec, tryExec, openExec (the lock) or tryExecWithFile (`stdin` is `< <local path>`). */
  kind: 'exec' | 'tryExec' | 'openExec' | 'tryExecWithFile'
  step: string
  /** The script text. */
  text: string
  stdin?: string
}

/** Answers an HTTP request through the SSH connection (health checks, nginx verify). */
export type FakeHttp = (port: number, path: string) => HttpResponse | Promise<HttpResponse>

export class FakeHost implements Host {
  readonly address: HostAddress
  readonly commands: RecordedCommand[] = []
  readonly requests: { port: number; path: string }[] = []
  private readonly rules: { rule: FakeRule; left: number }[] = []

  constructor(
    readonly name = 'web1',
    rules: FakeRule[] = [],
    /** Health checks and nginx verification; by default nothing listens. */
    public http: FakeHttp = (port) => {
      throw new Error(`connect ECONNREFUSED 127.0.0.1:${port} (fake host: no http answer set)`)
    },
  ) {
    this.address = { user: 'deploy', host: name, port: 22, label: name }
    rules.forEach((rule) => this.on(rule))
  }

  /** Adds a rule; rules added earlier win over later ones for the same command. */
  on(rule: FakeRule): this {
    this.rules.push({ rule, left: rule.times ?? Infinity })
    return this
  }

  /** The step names of the recorded commands, in order. */
  steps(): string[] {
    return this.commands.map((c) => c.step)
  }

  async exec(command: Shell, options: ExecOptions): Promise<ExecResult> {
    const result = await this.answer('exec', command.text, options)
    if (result.exitCode !== 0) {
      throw new RemoteCommandError(this.name, options.step, result.exitCode, result.stderr)
    }
    return result
  }

  tryExec(command: Shell, options: ExecOptions): Promise<ExecResult> {
    return this.answer('tryExec', command.text, options)
  }

  /** The deploy lock: held at once (unless a rule fails it), freed when its stdin closes. */
  async openExec(command: Shell, step: string): Promise<ExecChannel> {
    const { exitCode, stdout, stderr } = await this.answer('openExec', command.text, { step })
    const channel = Object.assign(new EventEmitter(), {
      stderr: new EventEmitter(),
      end: () => channel.emit('close', 0),
    })
    setImmediate(() => {
      if (exitCode === 0) {
        channel.emit('data', Buffer.from(stdout || `${LOCK_ACQUIRED}\n`))
        return
      }
      if (stderr) channel.stderr.emit('data', Buffer.from(stderr))
      channel.emit('close', exitCode)
    })
    return channel as ExecChannel
  }

  tryExecWithFile(command: Shell, localPath: string, options: ExecOptions): Promise<ExecResult> {
    return this.answer('tryExecWithFile', command.text, { ...options, stdin: `< ${localPath}` })
  }

  async httpGet(port: number, path: string): Promise<HttpResponse> {
    this.requests.push({ port, path })
    return this.http(port, path)
  }

  openTunnel(port: number): Promise<Duplex> {
    return Promise.reject(new Error(`fake host ${this.name}: no tunnel to port ${port}`))
  }

  private async answer(
    kind: RecordedCommand['kind'],
    text: string,
    options: ExecOptions,
  ): Promise<ExecResult> {
    const { step, stdin } = options
    this.commands.push({ kind, step, text, ...(stdin === undefined ? {} : { stdin }) })
    await Promise.resolve()
    const found = this.rules.find(
      ({ rule, left }) =>
        left > 0 &&
        (typeof rule.match === 'string'
          ? rule.match === step
          : rule.match.test(step) || rule.match.test(text)),
    )
    if (found === undefined) return { exitCode: 0, stdout: '', stderr: '' }
    found.left--
    const { rule } = found
    if (rule.error) throw rule.error
    const result = {
      exitCode: rule.exitCode === undefined ? 0 : rule.exitCode,
      stdout: rule.stdout ?? '',
      stderr: rule.stderr ?? '',
    }
    const output = `${result.stdout}${result.stderr}`.split('\n').filter((line) => line !== '')
    output.forEach((line) => options.onLine?.(line))
    return result
  }
}

/** What a host answers the prepare block (HostSession.lockAndPrepare), for a `lock` rule. */
export interface PreparedAnswer {
  /** state.json, the upstream file, the managed site ('' or left out: absent). */
  files?: string[]
  /** Output of the extras in the order readState asks for them (left out: empty). */
  extras?: string[]
  /** Their exit codes, in the same order (left out: 0). */
  extraExitCodes?: number[]
  existing?: string
  releases?: string[]
  httpClient?: string
}

/**
 * The prepare block's output (see parsePrepared) for the files and extras readState asks a host
 * of `settings` for: `{ match: 'lock', stdout: preparedOutput(settings, { files: [stateJson] }) }`.
 */
export function preparedOutput(settings: Settings, answer: PreparedAnswer = {}): string {
  const request = prepareRequest(settings, layout(settings.app.deployPath), 'deploy')
  const files = request.files.map((_, i) => answer.files?.[i] ?? '')
  const extras = request.extras.flatMap((_, i) => [
    answer.extras?.[i] ?? '',
    String(answer.extraExitCodes?.[i] ?? 0),
  ])
  const fields = [
    answer.existing ?? '',
    (answer.releases ?? []).join('\n'),
    answer.httpClient ?? 'curl',
    ...files,
    ...extras,
    PREPARE_READY,
    '',
  ]
  return `${LOCK_ACQUIRED}\n${fields.join('\0')}`
}

/** An HTTP answer as the fake gives it; `upstream` sets nginx's verification header. */
export function httpAnswer(status: number, body = '', upstream?: string): HttpResponse {
  return { status, body, headers: upstream === undefined ? {} : { [VERIFY_HEADER]: upstream } }
}

/** The output of a start + health (startThenHealth): app pid 4242, healthy at the first check. */
export const STARTED_HEALTHY = 'STARTED 4242\nRESULT healthy 1\n'

/** The output of a finish block (finishHost) that found the old slot idle and did every step. */
export const FINISHED = 'DRAIN idle\nSTEP stop\nSTEP state\nOK\n'

/**
 * The step names of an app host's nginx switch (the switch script), as HostDeploy records them:
 * its first half (recheck, install, test), its second (reload, verify, record), or all of it.
 */
export const INSTALL_STEP = 'switch: install upstream and test nginx'
export const RELOAD_STEP = 'switch: reload nginx'
export const SWITCH_STEP = 'switch'

/** The switch script's stage and the first upstream server of its file, from its arguments. */
function switchOf(command: RecordedCommand): { stage: string; port?: number } | undefined {
  if (!command.text.includes('echo "STEP install"')) return undefined
  const args = command.text.slice(command.text.lastIndexOf("' sh ") + 5)
  const port = /server 127\.0\.0\.1:(\d+)/.exec(args)?.[1]
  return { stage: args.split(' ')[0] ?? '', ...(port ? { port: Number(port) } : {}) }
}

/**
 * The port an app host's nginx proxies to: the first server of the upstream it installed before
 * its last reload (a switch script's `activate` or `all` stage), or `before` when it has not
 * reloaded one.
 */
export function nginxSendsTo(host: FakeHost, before: number): number {
  let installed: number | undefined
  let live = before
  for (const command of host.commands) {
    const sw = switchOf(command)
    if (sw === undefined) continue
    if (sw.stage !== 'activate') installed = sw.port
    if (sw.stage !== 'install' && installed !== undefined) live = installed
  }
  return live
}
