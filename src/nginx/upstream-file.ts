/**
 * A file of nginx config the action owns on a host, and the one way it is switched: the app's
 * upstream include, the managed site (`nginx-site`) and the load balancer's upstream. `install`
 * puts the new file in place (the one it replaces kept as a backup) and tests the whole config,
 * `reload` makes nginx use it, `verify` asks nginx where it sends requests now, `restore` puts the
 * backup back. `check` refuses a file edited by hand (drift) or not written by the action, with
 * one message format for every role. Install, test, reload and verify run as one script on the
 * host (`switch`, src/remote/commands/switch.ts), whole or in its two barriers.
 */
import { HostError, RemoteCommandError } from '../common/errors.js'
import type { Settings } from '../inputs/settings.js'
import type { HttpClientChoice } from '../remote/commands/http.js'
import { ASSETS_STEP } from '../remote/commands/assets.js'
import { reloadNginx, restoreUpstream, type NginxCommands } from '../remote/commands/nginx.js'
import {
  parseSwitch,
  switchUpstream,
  type SwitchResult,
  type SwitchSpec,
  type SwitchStage,
} from '../remote/commands/switch.js'
import type { Layout } from '../remote/layout.js'
import type { Host } from '../ssh/host.js'
import { VERIFY_HEADER, upstreamOwnership, type UpstreamOwnership } from './render.js'
import { verifyThroughNginx, type VerifyAnswer } from './verify.js'

/** What the switch needs of a host. */
export type NginxHost = Pick<Host, 'name' | 'exec' | 'tryExec' | 'httpGet'>

/** The nginx test and reload commands, as the inputs give them. */
export function nginxCommands(settings: Pick<Settings, 'nginx' | 'sudo'>): NginxCommands {
  const { nginx, sudo } = settings
  return { test: nginx.testCommand, reload: nginx.reloadCommand, sudo }
}

/** Which of the action's files: names the check's step and words its refusal. */
export type FileRole = 'upstream' | 'site' | 'lb upstream'

const EDITED = 'was edited by hand since the last deploy (drift)'
const NOT_OURS = 'was not written by this action'
const MOVE_TO_SITE =
  'Move your changes to your site config, then rerun with force: true to let the action overwrite it.'

/**
 * Per role: the check's step, what happened to a refused file and what to do about it. A
 * foreign site is refused even with force (the action never overwrites a site it did not write).
 */
const ROLES: Record<
  FileRole,
  {
    step: string
    foreignEvenWithForce: boolean
    what: Record<'drifted' | 'foreign', string>
    advice: Record<'drifted' | 'foreign', string>
  }
> = {
  upstream: {
    step: 'check upstream',
    foreignEvenWithForce: false,
    what: { drifted: EDITED, foreign: NOT_OURS },
    advice: { drifted: MOVE_TO_SITE, foreign: MOVE_TO_SITE },
  },
  site: {
    step: 'check site',
    foreignEvenWithForce: true,
    what: { drifted: EDITED, foreign: NOT_OURS },
    advice: {
      drifted:
        'Move your changes to a site of your own (and drop nginx-site), or rerun with force: true to let the action overwrite it.',
      foreign:
        'The action never overwrites it: remove it if nginx-site should replace it, or set nginx-site-file to another path.',
    },
  },
  'lb upstream': {
    step: 'check lb upstream',
    foreignEvenWithForce: false,
    what: {
      drifted: 'was edited by hand or not written by this action',
      foreign: 'was edited by hand or not written by this action',
    },
    advice: {
      drifted: 'Rerun with force: true to let the action own it.',
      foreign: 'Rerun with force: true to let the action own it.',
    },
  },
}

export interface UpstreamFileOptions {
  role: FileRole
  /** The file nginx includes. */
  file: string
  /** Where the file it replaces is kept (the deploy path: always writable). */
  backup: string
  nginx: NginxCommands
  /**
   * `first`: the backup the first install takes is kept by later ones, so that a restore brings
   * back the file from before the run. `each`: every install backs up the file it replaces.
   */
  backups: 'first' | 'each'
  /**
   * Step names of the install (unless the call names its own), the reload, the whole switch in
   * one script (`all`) and the restore.
   */
  steps: { install: string; reload: string; all: string; restore: string }
  /** The verification server the file renders (`verifyPort`) and the path requested through it. */
  verify: { port: number; path: string; timeoutMs?: number }
  /** The upstream's name, to recognise the operator's placeholder (README "Host setup"). */
  upstreamName?: string
}

export class UpstreamFile {
  private backedUp = false

  constructor(
    private readonly host: NginxHost,
    private readonly options: UpstreamFileOptions,
  ) {}

  get file(): string {
    return this.options.file
  }

  /**
   * Refuses `content` (the file as read from the host) when it was edited by hand or not written
   * by the action, unless `force` (never for a foreign site); else returns whose it is.
   */
  check(content: string, force: boolean): UpstreamOwnership {
    const ownership = upstreamOwnership(content, this.options.upstreamName)
    if (ownership !== 'drifted' && ownership !== 'foreign') return ownership
    const role = ROLES[this.options.role]
    if (!force || (ownership === 'foreign' && role.foreignEvenWithForce)) {
      throw new HostError(
        this.host.name,
        role.step,
        `${this.options.file} ${role.what[ownership]}; nothing was changed. ${role.advice[ownership]}`,
      )
    }
    return ownership
  }

  /**
   * The switch script (switchUpstream) on this file: `install` (recheck, bridge, install, test),
   * `activate` (reload, verify, record) or `all`. Returns its result and output, and the error to
   * throw when it failed (the script has put the file from before back: `result.restored`), or,
   * for `result.noClient` (a recheck on a host without an HTTP client), none: nothing was touched.
   */
  async switch(
    request: SwitchRequest,
  ): Promise<{ result: SwitchResult; stdout: string; error?: Error }> {
    const { file, backup, nginx, backups, steps, verify } = this.options
    const { stage } = request
    const step = request.step ?? steps[stage === 'activate' ? 'reload' : stage]
    const r = await this.host.tryExec(
      switchUpstream({
        stage,
        file,
        backup,
        backupMode: backups === 'first' && this.backedUp ? 'keep' : 'take',
        nginx,
        recheck: request.recheck?.spec,
        verify: request.expected && {
          port: verify.port,
          path: verify.path,
          expected: request.expected,
          timeoutMs: verify.timeoutMs ?? 0,
          header: VERIFY_HEADER,
        },
        record: request.record,
        client: request.client,
        content: request.content,
        bridge: request.bridge,
      }),
      { step },
    )
    const result = parseSwitch(r.stdout)
    // The backup is whole once the new file was written (a failure after it restores from it).
    if (result.steps.includes('test')) this.backedUp = true
    const { stdout } = r
    if (r.exitCode === 0 || result.noClient) return { result, stdout }
    const detail = r.stderr.trim()
    const exit = result.failedExit ?? r.exitCode
    const failed = (error?: Error) => ({ result, stdout, error })
    switch (result.failedStep) {
      case 'recheck':
        return failed(request.recheck?.error(result.failedExit, detail))
      case 'bridge':
        return failed(new RemoteCommandError(this.host.name, ASSETS_STEP, exit, detail))
      case 'install':
      case 'test':
        return failed(
          new RemoteCommandError(this.host.name, request.step ?? steps.install, exit, detail),
        )
      case 'reload':
        return failed(new RemoteCommandError(this.host.name, steps.reload, exit, detail))
      case 'verify':
        return failed(new HostError(this.host.name, 'switch: verify', detail))
      case 'record':
        return failed(new HostError(this.host.name, 'record', detail))
      default:
        return failed(new RemoteCommandError(this.host.name, step, r.exitCode, detail))
    }
  }

  /** Puts `content` in place and tests the nginx config (not live until a reload). */
  async install(content: string, step = this.options.steps.install): Promise<void> {
    const { error } = await this.switch({ stage: 'install', content, client: 'none', step })
    if (error) throw error
  }

  async reload(): Promise<void> {
    await this.host.exec(reloadNginx(this.options.nginx), { step: this.options.steps.reload })
  }

  /**
   * Through nginx, over the SSH tunnel, until `check` accepts `rounds` answers in a row (else
   * throws, `switch: verify`): where the switch script could not verify on the host.
   */
  async verify(check: (answer: VerifyAnswer) => string | undefined, rounds = 1): Promise<void> {
    const { port, path, timeoutMs } = this.options.verify
    await verifyThroughNginx(this.host, port, path, check, rounds, timeoutMs)
  }

  /** Puts the backup back (no backup: no file before, so none after). Does not reload. */
  async restore(): Promise<void> {
    const { file, backup, nginx } = this.options
    await this.host.exec(restoreUpstream(file, backup, nginx.sudo), {
      step: this.options.steps.restore,
    })
  }

  /**
   * The whole switch on one host: install and test, reload (one script), then verify through the
   * tunnel. On a failure the file from before comes back, and nginx reloads it when the new one
   * may have gone live (a failed reload or verify); a failure of that cleanup is in the log, the
   * error thrown is the first one.
   */
  async switchTo(
    content: string,
    check: (answer: VerifyAnswer) => string | undefined,
    options: { step?: string; rounds?: number } = {},
  ): Promise<void> {
    const { result, error } = await this.switch({
      stage: 'all',
      content,
      client: 'none',
      step: options.step,
    })
    if (error) {
      // The script puts the file back itself; if it could not, once more from here.
      if (result.steps.includes('install') && !result.restored) {
        await this.restoreAfterFailure(result.steps.includes('reload'))
      }
      throw error
    }
    try {
      await this.verify(check, options.rounds)
    } catch (failure) {
      await this.restoreAfterFailure(true)
      throw failure
    }
  }

  private async restoreAfterFailure(live: boolean): Promise<void> {
    const { file, backup, nginx, steps } = this.options
    await this.host.tryExec(restoreUpstream(file, backup, nginx.sudo), { step: steps.restore })
    if (live) await this.host.tryExec(reloadNginx(nginx), { step: steps.reload })
  }
}

/** What a switch script (UpstreamFile.switch) does on the file. */
export interface SwitchRequest {
  stage: SwitchStage
  /** install/all: the new file. */
  content?: string
  /**
   * install/all: the slot that takes the traffic still runs and answers (the script's check),
   * and the error when it does not (`exit`: the slot's check exited with it, SLOT_EXITED when the
   * slot is gone; undefined: its health check failed).
   */
  recheck?: {
    spec: NonNullable<SwitchSpec['recheck']>
    error: (exit: number | undefined, detail: string) => Error
  }
  /** activate/all: verify on the host that nginx sends requests to one of these. */
  expected?: string[]
  /** activate/all: record the release with the switch (after the verify). */
  record?: SwitchSpec['record']
  /** install/all: bridge the release's asset folders first (a rollback's). */
  bridge?: SwitchSpec['bridge']
  client: HttpClientChoice
  /** The exec's step name, and the install's in errors (default: the stage's, see steps). */
  step?: string
}

/** The steps of a switch on an app host: `switch: install <what> and test nginx`, ... */
function switchSteps(what: string): UpstreamFileOptions['steps'] {
  return {
    install: `switch: install ${what} and test nginx`,
    reload: 'switch: reload nginx',
    all: 'switch',
    restore: `switch: restore ${what}`,
  }
}

function verifyOf(settings: Settings): UpstreamFileOptions['verify'] {
  return { port: settings.nginx.verifyPort, path: settings.health.path }
}

/** The app's upstream include on an app host (input `nginx-upstream-file`). */
export function appUpstreamFile(host: NginxHost, settings: Settings, layout: Layout): UpstreamFile {
  return new UpstreamFile(host, {
    role: 'upstream',
    file: settings.nginx.upstreamFile,
    backup: layout.upstreamBackup,
    nginx: nginxCommands(settings),
    backups: 'first',
    steps: switchSteps('upstream'),
    verify: verifyOf(settings),
    upstreamName: settings.app.name,
  })
}

/** The managed site on an app host (input `nginx-site`, written to `nginx-site-file`). */
export function managedSiteFile(host: NginxHost, settings: Settings, layout: Layout): UpstreamFile {
  return new UpstreamFile(host, {
    role: 'site',
    file: settings.site.file,
    backup: layout.siteBackup,
    nginx: nginxCommands(settings),
    backups: 'first',
    steps: switchSteps('site'),
    verify: verifyOf(settings),
  })
}

/**
 * The load balancer's upstream (input `lb-upstream-file`): every change backs up the file it
 * replaces, so that a failed one goes back to the step before, not to the file before the run.
 */
export function lbUpstreamFile(host: NginxHost, settings: Settings, layout: Layout): UpstreamFile {
  return new UpstreamFile(host, {
    role: 'lb upstream',
    file: settings.rolling.lbUpstreamFile,
    backup: layout.lbUpstreamBackup,
    nginx: nginxCommands(settings),
    backups: 'each',
    steps: {
      install: 'load balancer: install upstream and test nginx',
      reload: 'load balancer: reload nginx',
      all: 'load balancer: switch',
      restore: 'load balancer: restore',
    },
    verify: verifyOf(settings),
  })
}
