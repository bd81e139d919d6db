/**
 * Waits until nothing is connected to the old slot's port any more: nginx's old workers finish
 * their in-flight requests (slow ones, websockets) and then close their upstream connections.
 * Counting ESTABLISHED sockets to the port in /proc/net/tcp{,6} sees exactly that, per network
 * namespace, with no tool beyond sh and grep.
 */
import { script, type Shell } from '../shell.js'

export const DRAIN_TIMED_OUT = 4

const CHECK_MS = 50
/** While connections stay open, the loop prints `open <count>` this often (in checks: 2 s). */
const PROGRESS_EVERY = 40
/**
 * Idle means no connection for this long after nginx's reload: an old worker that just read a
 * request on a keep-alive connection opens its upstream connection well within that.
 */
const QUIET_MS = 200

/**
 * Checks in a row without a connection that make the port idle, when the reload that retired
 * the old workers happened `msSinceReload` ago (unknown: the whole window). At least one.
 */
export function quietChecks(msSinceReload = 0): number {
  return Math.max(1, Math.ceil((QUIET_MS - msSinceReload) / CHECK_MS))
}

/**
 * $1 port as 4 upper-case hex digits, $2 timeout in checks (one per 50 ms), $3 checks in a row
 * without a connection that count as idle (see quietChecks). While connections stay open it
 * prints `open <count>` every 2 s (see drainProgress), which the log's heartbeat shows.
 */
export function waitForDrain(port: number, timeoutMs: number, quiet = quietChecks()): Shell {
  return script(
    `hex=$1; limit=$2; needed=$3; quiet=0; i=0
while [ "$i" -lt "$limit" ]; do
  if grep -q ":$hex [0-9A-F]*:[0-9A-F]* 01 " /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
    quiet=0
    if [ $((i % ${PROGRESS_EVERY})) -eq ${PROGRESS_EVERY - 1} ]; then
      echo "open $(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -c ":$hex [0-9A-F]*:[0-9A-F]* 01 ")"
    fi
  else
    quiet=$((quiet + 1))
    [ "$quiet" -ge "$needed" ] && exit 0
  fi
  sleep 0.05
  i=$((i + 1))
done
grep -c ":$hex [0-9A-F]*:[0-9A-F]* 01 " /proc/net/tcp /proc/net/tcp6 2>/dev/null
exit ${DRAIN_TIMED_OUT}`,
    port.toString(16).toUpperCase().padStart(4, '0'),
    String(Math.max(1, Math.ceil(timeoutMs / CHECK_MS))),
    String(quiet),
  )
}

/** The connection count of a progress line of waitForDrain; undefined for any other line. */
export function drainProgress(line: string): number | undefined {
  const match = /^open (\d+)$/.exec(line)
  return match ? Number(match[1]) : undefined
}
