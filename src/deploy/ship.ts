/**
 * Shipping the release to one host: the archive streamed into one command that checks its sha256,
 * extracts it, bridges its asset folders (asset-path) and then writes shared/.env (shipRelease),
 * so the host is ready in one round trip. A run that fails puts the shared/.env it replaced back
 * (restoreEnv).
 */
import { randomUUID } from 'node:crypto'
import { HostError, RemoteCommandError } from '../common/errors.js'
import {
  ENV_RESTORED,
  renderEnvFile,
  restoreEnvFile,
  writeEnvFile,
} from '../remote/commands/files.js'
import { REVISION_FILE, REVISION_KEPT, UNKNOWN_CHECKSUM } from '../remote/commands/release.js'
import { warning } from '../report/log.js'
import { ASSETS_STEP, BRIDGED } from '../remote/commands/assets.js'
import {
  SHIP_INSTALLED,
  SHIP_RECEIVED,
  incomingArchive,
  shipRelease,
} from '../remote/commands/ship.js'
import type { HostState } from '../remote/state.js'
import type { ReleaseArchive } from '../release/index.js'
import type { ExecResult } from '../ssh/host.js'
import type { HostSession, Target } from './host-session.js'
import type { HostFacts } from './host-state.js'
import { wentLive } from './plan.js'
import type { AssetBridge } from './assets.js'

export type Shipped = 'uploaded' | 'already there' | 'replaced'

/**
 * Ships and installs the release unless the host has it, bridges its asset folders (`assets`:
 * before any page of it exists, and before the first batch of a rolling deploy switches, every
 * host's live release has its files) and writes shared/.env (see writeEnv). A release of this
 * version with other content is replaced only if it never went live (a rerun after a failed
 * health check); one that did is refused. Sets the target's checksum, and `facts.existing` once
 * the release is there.
 */
export async function shipToHost(
  s: HostSession,
  target: Target,
  facts: HostFacts,
  state: HostState,
  archive: ReleaseArchive,
  assets: AssetBridge,
): Promise<Shipped> {
  const l = s.layout
  const { version } = target
  const { existing } = facts
  const env = envFile(s)
  target.sha256 = archive.sha256
  if (existing === archive.sha256) {
    await writeEnv(s, version, env)
    await assets.run()
    return 'already there'
  }
  if (existing === UNKNOWN_CHECKSUM) {
    throw new HostError(
      s.name,
      'ship',
      `${l.release(version)} is already on the host but was not installed by this action (it has no checksum); nothing was changed. Give this build a new version, or remove that directory if it is not needed.`,
    )
  }
  if (existing !== '' && wentLive(state, version)) {
    throw new HostError(
      s.name,
      'ship',
      `release ${version} is already on the host with different content (sha256 ${existing}; this run built ${archive.sha256}). A version that went live must never change: give this build a new version.`,
    )
  }
  const keep = s.settings.app.keepReleases
  const bridge = assets.pending()
  const token = env === '' ? '' : envWritten(s)
  const shipped = await s.host.tryExecWithFile(
    shipRelease(
      l,
      version,
      archive.sha256,
      existing,
      env === '' ? undefined : { archiveBytes: archive.bytes, keep, token },
      bridge,
    ),
    archive.path,
    { step: 'ship', ...(env === '' ? {} : { stdin: env }) },
  )
  if (bridge) assets.took(shipped.stdout)
  if (shipped.exitCode !== 0) throw shipFailure(s, version, shipped, archive, bridge !== undefined)
  if (shipped.stdout.split('\n').includes(REVISION_KEPT)) {
    warning(
      `[${s.name}] the release has its own ${REVISION_FILE} file, kept as it is: the action writes ${version} there only when the release has none (README "What your app must do").`,
    )
  }
  facts.existing = archive.sha256
  return existing === '' ? 'uploaded' : 'replaced'
}

/**
 * The error of a failed ship, naming the part that failed (upload, extract, assets when
 * `bridged`, shared/.env).
 */
function shipFailure(
  s: HostSession,
  version: string,
  r: ExecResult,
  archive: ReleaseArchive,
  bridged: boolean,
): HostError {
  if (r.exitCode === null) {
    const upload = incomingArchive(s.layout, version, archive.sha256)
    return new HostError(
      s.name,
      'ship',
      `upload to ${upload} failed: ${r.stderr.trim() || 'the SSH connection was lost'}`,
    )
  }
  const lines = r.stdout.split('\n')
  const step = !lines.includes(SHIP_INSTALLED)
    ? lines.includes(SHIP_RECEIVED)
      ? 'extract release'
      : 'ship'
    : bridged && !lines.includes(BRIDGED)
      ? ASSETS_STEP
      : 'write shared/.env'
  return new RemoteCommandError(s.name, step, r.exitCode, r.stderr)
}

/** shared/.env from `env` and `secret-env` ('' when both are empty: the file is not touched). */
function envFile(s: HostSession): string {
  const { env, secretEnv } = s.settings.app
  return renderEnvFile({ ...env, ...secretEnv })
}

/** Writes shared/.env (a release already on the host: ship writes it with the release). */
async function writeEnv(s: HostSession, version: string, content: string): Promise<void> {
  if (content === '') return
  const token = envWritten(s)
  await s.host.exec(writeEnvFile(s.layout, version, s.settings.app.keepReleases, token), {
    step: 'write shared/.env',
    stdin: content,
  })
}

/**
 * Journals that shared/.env is about to be replaced, before it is: the post step puts it back
 * too. Returns the token of the file's undo record.
 */
function envWritten(s: HostSession): string {
  const token = randomUUID()
  s.journal.mark({ kind: 'env written', token })
  return token
}

/**
 * After a run that did not make its release live on this host: the shared/.env it replaced comes
 * back (the old version, still live, reads it at its next start). Returns whether it did.
 */
export async function restoreEnv(s: HostSession, token: string): Promise<boolean> {
  const { stdout } = await s.host.exec(restoreEnvFile(s.layout, token), {
    step: 'restore shared/.env',
  })
  s.journal.clear('env written')
  return stdout.split('\n').includes(ENV_RESTORED)
}
