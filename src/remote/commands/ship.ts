/**
 * Ship in one round trip: the release archive streamed into one command's stdin, which writes it
 * to .deploy/incoming/, checks its sha256 and installs it (installRelease: extract to a temp dir,
 * then rename), instead of an SFTP session (open, write, close), a checksum and an extract call.
 * Run it with `Host.tryExecWithFile(shipRelease(...), archive.path, { step: 'ship' })`, after the
 * prepare block said the release is not there (or may be replaced).
 */
import type { Layout } from '../layout.js'
import { and, cmd, script, type Shell } from '../shell.js'
import { writeEnvFile } from './files.js'
import { installRelease } from './release.js'

/** Exit code of shipRelease when the bytes that arrived do not have the expected sha256. */
export const SHIP_CHECKSUM_MISMATCH = 4
/**
 * shipRelease's stdout lines once the archive arrived intact, and once it was installed (then,
 * with asset-path, bridgeAssets' lines ending in `BRIDGED`).
 */
export const SHIP_RECEIVED = 'RECEIVED'
export const SHIP_INSTALLED = 'INSTALLED'

/** Where the archive of a release is written on the host while it is being installed. */
export function incomingArchive(l: Layout, version: string, sha256: string): string {
  return `${l.incoming}/${version}.${sha256.slice(0, 12)}.tar.gz`
}

/** shared/.env written in the same command (writeEnvFile): its content follows the archive on stdin. */
export interface ShipEnv {
  /** The archive's size in bytes: where the archive ends on stdin. */
  archiveBytes: number
  /** keep-releases: how many backups of shared/.env stay. */
  keep: number
  /** The run's token for the file's undo record (writeEnvFile). */
  token: string
}

/**
 * stdin: the archive (with `env`: exactly `env.archiveBytes` of it, then the new shared/.env,
 * renderEnvFile's content, which holds secrets and so never goes into an argument). Writes the
 * archive to `incomingArchive`, checks its sha256 (a mismatch removes it, says what arrived on
 * stderr and exits SHIP_CHECKSUM_MISMATCH: nothing is extracted), then installs it as
 * installRelease does (`replacing`: see there), then writes shared/.env as writeEnvFile does. It
 * prints SHIP_RECEIVED once the archive checked out and SHIP_INSTALLED once it is installed, so
 * that a failure names its part (upload, extract, assets, shared/.env). `bridge` (asset-path:
 * bridgeAssets) runs right after the install, before shared/.env. A
 * cut connection closes stdin early: the checksum then fails, and nothing is extracted either.
 * `head -c` (coreutils, like sha256sum) reads no byte past the archive.
 */
export function shipRelease(
  l: Layout,
  version: string,
  sha256: string,
  replacing = '',
  env?: ShipEnv,
  bridge?: Shell,
): Shell {
  const archive = incomingArchive(l, version, sha256)
  const receive = script(
    `archive=$1; sum=$2; bytes=$3
mkdir -p "\${archive%/*}" || exit 1
if [ -n "$bytes" ]; then (umask 077 && head -c "$bytes" > "$archive"); else (umask 077 && cat > "$archive"); fi || { rm -f "$archive"; exit 1; }
found=$(sha256sum "$archive" | cut -d' ' -f1)
if [ "$found" != "$sum" ]; then
  echo "checksum mismatch after upload of $archive: expected $sum, host has $found ($(wc -c < "$archive") bytes arrived); nothing was extracted" >&2
  rm -f "$archive"
  exit ${SHIP_CHECKSUM_MISMATCH}
fi
echo ${SHIP_RECEIVED}`,
    archive,
    sha256,
    env === undefined ? '' : String(env.archiveBytes),
  )
  const install = installRelease(l, version, archive, sha256, replacing)
  const after = [
    ...(bridge ? [bridge] : []),
    ...(env ? [writeEnvFile(l, version, env.keep, env.token)] : []),
  ]
  return after.length === 0
    ? and(receive, install)
    : and(receive, install, cmd('echo', SHIP_INSTALLED), ...after)
}
