/**
 * The start of a run on one host in one round trip: take the deploy lock (holdLock: flock held
 * by this command for as long as its channel stays open, so the lock stays tied to the
 * connection), then, under the lock, prepare the layout (remove what an interrupted run left: a
 * partial upload, a half-extracted release; create the directories), and print what the runner
 * decides from: the checksum of the release this run ships, the releases on the host, the HTTP client the host
 * loops can use, the files asked for (state.json, the upstream file, the managed site) and the
 * output of extra read-only commands (process-manager detection, restarts of the slots). Then it
 * holds the lock until its stdin closes.
 *
 * Output: the lock's `WAITING <holder>` line while another run holds it, `LOCKED`, then NUL
 * terminated fields (none of them can contain NUL: JSON, nginx config, names), the last one
 * `READY` (see parsePrepared).
 */
import type { Layout } from '../layout.js'
import { script, type Shell } from '../shell.js'
import { HTTP_CLIENT_FUNCTION } from './http.js'
import { LOCK_ACQUIRED, TAKE_LOCK } from './lock.js'
import { CHECKSUM_FILE, UNKNOWN_CHECKSUM } from './release.js'

export const PREPARE_READY = 'READY'

export interface PrepareSpec {
  layout: Layout
  waitSeconds: number
  holder: string
  /** The version this run ships ('' for a rollback: no layout check of a release). */
  version: string
  /** Files to read (missing: empty). */
  files: string[]
  /** Read-only commands whose output and exit code the runner needs too. */
  extras: Shell[]
}

export function prepareHost(spec: PrepareSpec): Shell {
  const l = spec.layout
  return script(
    `${HTTP_CLIENT_FUNCTION}
${TAKE_LOCK}
lock=$1; wait=$2; holder=$3; incoming=$4; releases=$5; release=$6; sums=$7; root=$8; logs=$9
shift 9
nfiles=$1; shift
take_lock "$lock" "$wait" "$holder"
rm -rf -- "$incoming" "$releases"/.*.tmp.* || exit 1
mkdir -p "$releases" "$root/shared" "$logs" "$incoming" || exit 1
if [ -n "$release" ] && [ -d "$release" ]; then cat "$release/$sums" 2>/dev/null || echo ${UNKNOWN_CHECKSUM}; fi
printf '\\0'
ls -1 "$releases"
printf '\\0'
http_client
printf '\\0'
while [ "$nfiles" -gt 0 ]; do
  [ ! -f "$1" ] || cat "$1"
  printf '\\0'
  shift; nfiles=$((nfiles - 1))
done
for extra in "$@"; do
  (eval "$extra") < /dev/null
  printf '\\0%s\\0' $?
done
printf '${PREPARE_READY}\\0'
cat > /dev/null`,
    l.lock,
    String(spec.waitSeconds),
    spec.holder,
    l.incoming,
    l.releases,
    spec.version === '' ? '' : l.release(spec.version),
    CHECKSUM_FILE,
    l.root,
    l.logs,
    String(spec.files.length),
    ...spec.files,
    ...spec.extras.map((extra) => extra.text),
  )
}

export interface Prepared {
  /** The checksum of the release of this version on the host ('' absent, `unknown`: not ours). */
  existing: string
  /** Release directories on the host (temp dirs left out). */
  releases: string[]
  httpClient: string
  /** The files' contents, in the order asked ('' when absent). */
  files: string[]
  extras: { stdout: string; exitCode: number }[]
}

/**
 * The fields after `LOCKED`, once all have arrived (`READY` seen); undefined until then. `files`
 * and `extras`: how many were asked for.
 */
export function parsePrepared(stdout: string, files: number, extras: number): Prepared | undefined {
  const start = stdout.indexOf(`${LOCK_ACQUIRED}\n`)
  if (start < 0) return undefined
  const fields = stdout.slice(start + LOCK_ACQUIRED.length + 1).split('\0')
  const count = 3 + files + 2 * extras
  if (fields.length < count + 2 || fields[count] !== PREPARE_READY) return undefined
  const [existing = '', releases = '', client = ''] = fields
  return {
    existing: existing.trim(),
    releases: releases.split('\n').filter((name) => name !== '' && !name.includes('.tmp.')),
    httpClient: client.trim(),
    files: fields.slice(3, 3 + files),
    extras: Array.from({ length: extras }, (_, i) => ({
      stdout: fields[3 + files + 2 * i] ?? '',
      exitCode: Number(fields[4 + files + 2 * i]),
    })),
  }
}
