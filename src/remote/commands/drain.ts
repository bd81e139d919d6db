/**
 * Waits until nothing is connected to the old slot's port any more: nginx's old workers finish
 * their in-flight requests (slow ones, websockets) and then close their upstream connections.
 * Counting ESTABLISHED sockets whose local port is the slot's sees exactly that, per network
 * namespace. `ss` with a filter asks the kernel for just those sockets; without ss, the loop
 * reads /proc/net/tcp{,6} with grep. That fallback costs far more: the kernel walks its whole
 * connection table on every read (~10 ms of CPU per check measured on a 24 GiB machine, and more
 * on a busy host), and the drain checks every 50 ms.
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

/** The drain loop's length in checks for a drain-timeout (0: no drain). */
export const drainChecks = (timeoutMs: number): number =>
  timeoutMs === 0 ? 0 : Math.max(1, Math.ceil(timeoutMs / CHECK_MS))

/**
 * Shell functions of the drain loop (waitForDrain, finishHost).
 * `drain_port PORT CHECKS QUIET`: checks PORT every 50 ms, at most CHECKS times, until QUIET
 * checks in a row saw no connection (returns 0); prints `open <count>` every 2 s while
 * connections stay open (drainProgress reads it). On timeout it returns 1 with the connections
 * still open in $drain_left.
 */
export const DRAIN_FUNCTIONS = `conn_lines() {
  if [ "$_ss" = yes ]; then ss -Htn state established "( sport = :$1 )" 2>/dev/null
  else grep -h ":$2 [0-9A-F]*:[0-9A-F]* 01 " /proc/net/tcp /proc/net/tcp6 2>/dev/null; fi
}
drain_port() {
  _port=$1; _hex=$(printf '%04X' "$1"); _quiet=0; _i=0
  if ss -Htn state established '( sport = :1 )' > /dev/null 2>&1; then _ss=yes; else _ss=no; fi
  while [ "$_i" -lt "$2" ]; do
    _open=$(conn_lines "$_port" "$_hex")
    if [ -n "$_open" ]; then
      _quiet=0
      [ $((_i % ${PROGRESS_EVERY})) -ne ${PROGRESS_EVERY - 1} ] || echo "open $(printf '%s\\n' "$_open" | grep -c .)"
    else
      _quiet=$((_quiet + 1))
      [ "$_quiet" -lt "$3" ] || return 0
    fi
    sleep 0.05
    _i=$((_i + 1))
  done
  drain_left=$(conn_lines "$_port" "$_hex" | grep -c .)
  return 1
}`

/**
 * $1 the port, $2 the timeout in checks (one per 50 ms), $3 checks in a row without a connection
 * that count as idle (see quietChecks). On timeout it prints the connections left and exits
 * DRAIN_TIMED_OUT.
 */
export function waitForDrain(port: number, timeoutMs: number, quiet = quietChecks()): Shell {
  return script(
    `${DRAIN_FUNCTIONS}
drain_port "$1" "$2" "$3" && exit 0
echo "$drain_left"
exit ${DRAIN_TIMED_OUT}`,
    String(port),
    String(Math.max(1, drainChecks(timeoutMs))),
    String(quiet),
  )
}

/**
 * How a drain ended: idle, or at drain-timeout with `open` connections still there (websockets,
 * or requests longer than drain-timeout), which the stop after it closes.
 */
export interface DrainOutcome {
  idle: boolean
  /** Connections still open when drain-timeout ended; 0 when idle. */
  open: number
}

/** The outcome of waitForDrain from its exit code and output (undefined: the check failed). */
export function parseDrain(exitCode: number | null, stdout: string): DrainOutcome | undefined {
  if (exitCode === 0) return { idle: true, open: 0 }
  if (exitCode !== DRAIN_TIMED_OUT) return undefined
  const last = stdout.trim().split('\n').at(-1) ?? ''
  return { idle: false, open: /^\d+$/.test(last) ? Number(last) : 0 }
}

/** The connection count of a progress line of waitForDrain; undefined for any other line. */
export function drainProgress(line: string): number | undefined {
  const match = /^open (\d+)$/.exec(line)
  return match ? Number(match[1]) : undefined
}
