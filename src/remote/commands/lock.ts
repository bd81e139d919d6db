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

/** $1 lock file, $2 seconds to wait, $3 holder line written into the file once acquired. */
export function holdLock(l: Layout, waitSeconds: number, holder: string): Shell {
  return script(
    `mkdir -p "$(dirname "$1")" || exit 1
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
cat > /dev/null`,
    l.lock,
    String(waitSeconds),
    holder,
  )
}
