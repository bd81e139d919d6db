/** Small files the action owns on the host, each replaced atomically (temp file + rename). */
import type { Layout } from '../layout.js'
import { and, quote, script, type Shell } from '../shell.js'

/**
 * Writes stdin to `path` atomically. `backup` says what `path.bak` keeps: the previous content
 * (default), or a copy of what was just written (state.json: the last good state, which the
 * corrupt-state error tells the operator to restore).
 */
export function writeFileAtomically(
  path: string,
  mode = '644',
  backup: 'previous' | 'written' = 'previous',
): Shell {
  return script(
    `set -e
umask 077
cat > "$1.tmp.$$"
chmod "$2" "$1.tmp.$$"
if [ "$3" = previous ] && [ -f "$1" ]; then cp -p "$1" "$1.bak"; fi
mv -f "$1.tmp.$$" "$1"
if [ "$3" = written ]; then { cp -p "$1" "$1.bak.tmp.$$" && mv -f "$1.bak.tmp.$$" "$1.bak"; } || rm -f "$1.bak.tmp.$$"; fi`,
    path,
    mode,
    backup,
  )
}

/**
 * State.json from the phase scripts (switch, finish), which have it as an argument:
 * `write_state FILE CONTENT` replaces FILE atomically (mode 644; fails with FILE as it was), and
 * `backup_state FILE` copies it to FILE.bak, as writeStateFile does (best effort).
 */
export const STATE_FUNCTIONS = `write_state() {
  { printf '%s' "$2" > "$1.tmp.$$" && chmod 644 "$1.tmp.$$" && mv -f "$1.tmp.$$" "$1"; } ||
    { rm -f "$1.tmp.$$"; return 1; }
}
backup_state() {
  { cp -p "$1" "$1.bak.tmp.$$" && mv -f "$1.bak.tmp.$$" "$1.bak"; } || rm -f "$1.bak.tmp.$$"
}`

/** Writes state.json (stdin) atomically, keeping a copy of it as state.json.bak. */
export function writeStateFile(l: Layout): Shell {
  return writeFileAtomically(l.state, '644', 'written')
}

/** Writes state.json (stdin) and points `current` at `version`, in one round trip. */
export function recordRelease(l: Layout, version: string): Shell {
  return and(writeStateFile(l), switchCurrent(l, version))
}

/** Points `current` at a release: a new symlink renamed over the old one (atomic). */
export function switchCurrent(l: Layout, version: string): Shell {
  return script('ln -sfn "$2" "$1.tmp" && mv -T "$1.tmp" "$1"', l.current, `releases/${version}`)
}

/**
 * shared/.env content: one `KEY='value'` line per variable, quoted so that sourcing it from sh
 * (as slots are started) sets the value literally; dotenv libraries read the same lines.
 */
export function renderEnvFile(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([key, value]) => `${key}=${quote(value)}\n`)
    .join('')
}

export const ENV_FILE_MODE = '600'

/**
 * Replaces shared/.env with stdin, only when the content changes. The file it replaces (often
 * placed by hand, with secrets that never pass through GitHub) is first copied to
 * `<envBackups>/<UTC time>.<version>` (mode 600, times kept): a new name each time, so a later
 * run never overwrites it; only the newest `keep` backups stay. Unchanged content touches nothing
 * and makes no backup. Before the file changes, `envUndo` says how to put it back
 * (`<token> <backup> <its mode>`, or `<token> none -` when there was no file): restoreEnvFile,
 * with the run's `token`, when the run fails.
 */
export function writeEnvFile(l: Layout, version: string, keep: number, token: string): Shell {
  return script(
    `set -e
umask 077
env=$1; backups=$2; version=$3; keep=$4; mode=$5; undo=$6; token=$7
tmp="$env.tmp.$$"
trap 'rm -f "$tmp" "$backups/.tmp.$$" "$undo.tmp.$$"' EXIT
cat > "$tmp"
chmod "$mode" "$tmp"
backup=none; was=-
if [ -f "$env" ]; then
  if cmp -s "$tmp" "$env"; then exit 0; fi
  mkdir -p "$backups"
  chmod 700 "$backups"
  backup="$(date -u +%Y%m%dT%H%M%SZ).$version"
  if [ -e "$backups/$backup" ]; then backup="$backup.$$"; fi
  was=$(stat -c %a "$env")
  cp -p "$env" "$backups/.tmp.$$"
  chmod "$mode" "$backups/.tmp.$$"
  mv "$backups/.tmp.$$" "$backups/$backup"
  # shellcheck disable=SC2012 # the backups are named by the action: <time>-<version>
  ls -1 "$backups" | sort -r | tail -n +$((keep + 1)) | while read -r old; do rm -f "$backups/$old"; done
fi
printf '%s %s %s\n' "$token" "$backup" "$was" > "$undo.tmp.$$"
mv -f "$undo.tmp.$$" "$undo"
mv -f "$tmp" "$env"`,
    l.sharedEnv,
    l.envBackups,
    version,
    String(keep),
    ENV_FILE_MODE,
    l.envUndo,
    token,
  )
}

/** restoreEnvFile's output when it put the file back. */
export const ENV_RESTORED = 'RESTORED'

/**
 * Puts back the shared/.env that the run with `token` replaced (writeEnvFile's `envUndo`): its
 * backup, with the times it had and the mode it had before, or no file when there was none. Does nothing when that run did not change
 * the file (another token, or none); prints ENV_RESTORED when it did.
 */
export function restoreEnvFile(l: Layout, token: string): Shell {
  return script(
    `env=$1; backups=$2; undo=$3; token=$4
[ -f "$undo" ] || exit 0
read -r run backup was < "$undo" || exit 1
[ "$run" = "$token" ] || exit 0
if [ "$backup" = none ]; then rm -f "$env" || exit 1
else
  tmp="$env.tmp.$$"
  { cp -p "$backups/$backup" "$tmp" && chmod "$was" "$tmp" && mv -f "$tmp" "$env"; } || { rm -f "$tmp"; exit 1; }
fi
rm -f "$undo"
echo ${ENV_RESTORED}`,
    l.sharedEnv,
    l.envBackups,
    l.envUndo,
    token,
  )
}
