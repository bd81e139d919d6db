/**
 * Ship in one round trip: the release archive streamed into one command's stdin, which writes it
 * to .deploy/incoming/, checks its sha256 and installs it (installRelease: extract to a temp dir,
 * then rename), instead of an SFTP session (open, write, close), a checksum and an extract call.
 * Run it with `Host.tryExecWithFile(shipRelease(...), archive.path, { step: 'ship' })`, after the
 * prepare block said the release is not there (or may be replaced).
 */
import type { Layout } from '../layout.js'
import { and, script, type Shell } from '../shell.js'
import { installRelease } from './release.js'

/** Exit code of shipRelease when the bytes that arrived do not have the expected sha256. */
export const SHIP_CHECKSUM_MISMATCH = 4

/** Where the archive of a release is written on the host while it is being installed. */
export function incomingArchive(l: Layout, version: string, sha256: string): string {
  return `${l.incoming}/${version}.${sha256.slice(0, 12)}.tar.gz`
}

/**
 * stdin: the archive. Writes it to `incomingArchive`, checks its sha256 (a mismatch removes it,
 * says what arrived on stderr and exits SHIP_CHECKSUM_MISMATCH: nothing is extracted), then
 * installs it as installRelease does (`replacing`: see there). A cut connection closes stdin
 * early: the checksum then fails, and nothing is extracted either.
 */
export function shipRelease(l: Layout, version: string, sha256: string, replacing = ''): Shell {
  const archive = incomingArchive(l, version, sha256)
  return and(
    script(
      `archive=$1; sum=$2
mkdir -p "\${archive%/*}" && (umask 077 && cat > "$archive") || { rm -f "$archive"; exit 1; }
found=$(sha256sum "$archive" | cut -d' ' -f1)
if [ "$found" != "$sum" ]; then
  echo "checksum mismatch after upload of $archive: expected $sum, host has $found ($(wc -c < "$archive") bytes arrived); nothing was extracted" >&2
  rm -f "$archive"
  exit ${SHIP_CHECKSUM_MISMATCH}
fi`,
      archive,
      sha256,
    ),
    installRelease(l, version, archive, sha256, replacing),
  )
}
