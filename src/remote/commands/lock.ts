/**
 * The deploy lock: `flock` on .deploy/lock held by a command that lives as long as its SSH
 * channel. When the run ends, is cancelled or its connection dies, stdin closes, `cat` exits and
 * the lock is free: it can never go stale.
 */
import type { Layout } from '../layout.js'
import { script, type Shell } from '../shell.js'

export const LOCK_ACQUIRED = 'LOCKED'
export const LOCK_WAITING = 'WAITING'
export const LOCK_TIMED_OUT = 75

/** Ends the file holdLock prints once the lock is held (after a NUL, and followed by one). */
export const LOCK_READ_END = 'READY'

/**
 * `take_lock FILE SECONDS HOLDER`: takes the flock on FILE with fd 9, which keeps it for as long
 * as the calling shell lives. While another run holds it, prints `WAITING <its holder line>`
 * once and waits up to SECONDS (then exits LOCK_TIMED_OUT, the holder on stderr); once held,
 * writes HOLDER into FILE and prints `LOCKED`. Shared by holdLock and the prepare block.
 */
export const TAKE_LOCK = `take_lock() {
  mkdir -p "$(dirname "$1")" || exit 1
  exec 9>>"$1" || exit 1
  if ! flock -n 9; then
    printf '%s %s\\n' "${LOCK_WAITING}" "$(cat "$1")"
    if ! flock -w "$2" 9; then
      printf 'held by: %s\\n' "$(cat "$1")" >&2
      exit ${LOCK_TIMED_OUT}
    fi
  fi
  printf '%s\\n' "$3" > "$1"
  echo ${LOCK_ACQUIRED}
}`

/**
 * $1 lock file, $2 seconds to wait, $3 holder line written into the file once acquired; with
 * `read` ($4), that file is printed under the lock in the same round trip (missing: nothing),
 * then NUL `READY` NUL (see lockedRead).
 */
export function holdLock(l: Layout, waitSeconds: number, holder: string, read?: string): Shell {
  const readFile =
    read === undefined
      ? ''
      : `[ ! -f "$4" ] || cat "$4" || exit 1\nprintf '\\0%s\\0' ${LOCK_READ_END}\n`
  return script(
    `${TAKE_LOCK}
take_lock "$1" "$2" "$3"
${readFile}cat > /dev/null`,
    l.lock,
    String(waitSeconds),
    holder,
    ...(read === undefined ? [] : [read]),
  )
}

/** The file holdLock printed under the lock, once all of it arrived; undefined until then. */
export function lockedRead(stdout: string): string | undefined {
  const start = stdout.indexOf(`${LOCK_ACQUIRED}\n`)
  if (start < 0) return undefined
  const rest = stdout.slice(start + LOCK_ACQUIRED.length + 1)
  const end = rest.indexOf(`\0${LOCK_READ_END}\0`)
  return end < 0 ? undefined : rest.slice(0, end)
}
