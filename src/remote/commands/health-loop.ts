/**
 * The health phase in one round trip: a loop on the host polls the new slot (health-path, and
 * version-path whose body must contain the version) until it is healthy, its process exits, or
 * health-timeout ends, with the same schedule as the runner's loop (at once, then after 50, 100,
 * 200 ms ... up to health-interval), and reports once. While it waits it prints a progress line
 * every ~2 s (`waiting <attempt> <last answer>`), for the log's heartbeat. The last lines:
 *
 *     RESULT healthy|timeout|exited|no-client <attempts>
 *     LAST <last answer that was not healthy>      (when there was one)
 *     <the slot's log tail>                        (exited: what checkAlive printed)
 *
 * A slot counts as healthy only while every process that listens on its port is one of its own
 * (port_owner): an answer from anyone else (a server an earlier stop left behind, another program
 * on the port) fails at once as `RESULT foreign`, with who it is as the LAST line.
 *
 * Exit codes: 0 healthy, HEALTH_TIMED_OUT, SLOT_EXITED (as checkAlive), HEALTH_NO_CLIENT (the host
 * has neither curl nor wget: poll through the SSH tunnel instead, src/deploy/health.ts),
 * HEALTH_FOREIGN.
 */
import { script, type Shell } from '../shell.js'
import { HTTP_FUNCTIONS, HTTP_TMP, type HttpClientChoice } from './http.js'
import { PROCESS_FUNCTIONS } from './processes.js'
import { SLOT_EXITED } from './slot.js'

export const HEALTH_TIMED_OUT = 4
export const HEALTH_NO_CLIENT = 5
export const HEALTH_FOREIGN = 7
/** One request's limit, as the runner's checks (src/deploy/health.ts). */
const REQUEST_TIMEOUT_MS = 5000
const FIRST_RETRY_MS = 50
const PROGRESS_EVERY_MS = 2000

/**
 * `check_slot CLIENT PORT HEALTH_PATH VERSION_PATH VERSION LIMIT_MS` (needs HTTP_FUNCTIONS): one
 * round of the slot's checks, health-path then version-path ('' for none) with VERSION in its
 * body; sets `problem` to what is wrong, in the words of the runner's checks through the tunnel
 * (health.ts), or to '' when the slot is healthy. The health loop and the switch's recheck.
 */
export const CHECK_SLOT = `check_slot() {
  problem=
  http_get "$1" "$2" "$3" "$6" ""
  if [ -n "$err" ]; then problem="GET $3: $err"
  elif [ "$code" -lt 200 ] || [ "$code" -gt 299 ]; then problem="GET $3 answered $code"
  elif [ -n "$4" ]; then
    http_get "$1" "$2" "$4" "$6" ""
    if [ -n "$err" ]; then problem="GET $4: $err"
    else
      _body=$(http_body)
      case $_body in *"$5"*) [ "$code" -ge 200 ] && [ "$code" -le 299 ] ;; *) false ;; esac ||
        problem="GET $4 answered $code without '$5' in its body (\\"$(printf '%s' "$_body" | tr '\\n\\r\\t' '   ' | head -c 100)\\")"
    fi
  fi
}`

export interface HealthLoopSpec {
  port: number
  path: string
  /** '' when there is no version-path. */
  versionPath: string
  version: string
  timeoutMs: number
  intervalMs: number
  /** The slot manager's checkAlive(slot, true): exits SLOT_EXITED with the log tail once it died. */
  alive: Shell
  /** The slot manager's members(slot): who may listen on the port. */
  members: Shell
  client?: HttpClientChoice
}

export function healthLoop(spec: HealthLoopSpec): Shell {
  return script(
    `${HTTP_FUNCTIONS}
${CHECK_SLOT}
${PROCESS_FUNCTIONS}
port=$1; hpath=$2; vpath=$3; version=$4; timeout=$5; interval=$6; client=$7; alive=$8; reqms=$9
members=${'$'}{10}
[ "$client" = auto ] && client=$(http_client)
if [ "$client" = none ]; then echo "RESULT no-client 0"; exit ${HEALTH_NO_CLIENT}; fi
${HTTP_TMP}
start=$(now_ms); told=$start; attempt=0; wait=${FIRST_RETRY_MS}; last=
while :; do
  attempt=$((attempt + 1))
  out=$(eval "$alive" 2>&1)
  if [ $? -eq ${SLOT_EXITED} ]; then
    echo "RESULT exited $attempt"
    [ -z "$last" ] || echo "LAST $last"
    printf '%s\\n' "$out"
    exit ${SLOT_EXITED}
  fi
  check_slot "$client" "$port" "$hpath" "$vpath" "$version" "$reqms"
  if [ -z "$problem" ]; then
    eval "$members"
    port_owner "$port"
    if [ $? -eq 2 ]; then
      echo "RESULT foreign $attempt"
      echo "LAST $problem"
      exit ${HEALTH_FOREIGN}
    fi
  fi
  if [ -z "$problem" ]; then
    echo "RESULT healthy $attempt"
    [ -z "$last" ] || echo "LAST $last"
    exit 0
  fi
  last=$problem
  now=$(now_ms)
  if [ $((now - start + wait)) -gt "$timeout" ]; then
    echo "RESULT timeout $attempt"
    echo "LAST $last"
    exit ${HEALTH_TIMED_OUT}
  fi
  if [ $((now - told)) -ge ${PROGRESS_EVERY_MS} ]; then told=$now; echo "waiting $attempt $last"; fi
  sleep_ms "$wait"
  wait=$((wait * 2)); [ "$wait" -le "$interval" ] || wait=$interval
done`,
    String(spec.port),
    spec.path,
    spec.versionPath,
    spec.version,
    String(spec.timeoutMs),
    String(spec.intervalMs),
    spec.client ?? 'auto',
    spec.alive.text,
    String(Math.min(REQUEST_TIMEOUT_MS, spec.timeoutMs)),
    spec.members.text,
  )
}

/**
 * Start and health in one round trip: runs the slot manager's start command (`start`), prints
 * what it printed before its last line (`PORT stopped ...`: leftovers it stopped), then
 * `STARTED <pid>` (the pid is that last line), then runs `health` (a healthLoop), whose output
 * follows. When the start fails, its output and exit status come back as they are, without a
 * STARTED line.
 */
export function startThenHealth(start: Shell, health: Shell): Shell {
  return script(
    `out=$(sh -c "$1") || { rc=$?; printf '%s\\n' "$out"; exit $rc; }
printf '%s\\n' "$out" | sed '$d'
echo "STARTED $(printf '%s\\n' "$out" | tail -n 1)"
exec sh -c "$2"`,
    start.text,
    health.text,
  )
}

/** The pid of startThenHealth's `STARTED <pid>` line; undefined for any other line. */
export function startedPid(line: string): number | undefined {
  const match = /^STARTED (\d*)$/.exec(line)
  return match ? Number(match[1]) : undefined
}

export interface HealthLoopResult {
  outcome: 'healthy' | 'timeout' | 'exited' | 'no-client' | 'foreign' | 'failed'
  attempts: number
  /** The last answer that was not healthy ('' when the first check passed). */
  last: string
  /** exited: the slot's log tail (what checkAlive printed). */
  logTail: string
}

/** Reads healthLoop's report from its output (`failed`: no RESULT line, the script broke). */
export function parseHealthLoop(stdout: string): HealthLoopResult {
  const lines = stdout.replace(/\n$/, '').split('\n')
  const at = lines.findIndex((line) => line.startsWith('RESULT '))
  if (at < 0) return { outcome: 'failed', attempts: 0, last: '', logTail: '' }
  const [, outcome = '', attempts = '0'] = lines[at]!.split(' ')
  let rest = lines.slice(at + 1)
  let last = ''
  if (rest[0]?.startsWith('LAST ')) {
    last = rest[0].slice('LAST '.length)
    rest = rest.slice(1)
  }
  const known = ['healthy', 'timeout', 'exited', 'no-client', 'foreign'] as const
  return {
    outcome: known.find((k) => k === outcome) ?? 'failed',
    attempts: Number(attempts),
    last,
    logTail: rest.join('\n'),
  }
}

/** The progress line of healthLoop as `attempt n, last answer: ...`; undefined for other lines. */
export function healthLoopProgress(line: string): { attempt: number; last: string } | undefined {
  const match = /^waiting (\d+) (.*)$/.exec(line)
  return match ? { attempt: Number(match[1]), last: match[2]! } : undefined
}

/**
 * The error detail for a health loop that did not end healthy, worded as the runner's loop
 * words it (src/deploy/health.ts); undefined when healthy (no-client: the caller falls back).
 */
export function healthLoopFailure(
  result: HealthLoopResult,
  where: { slot: string; port: number; timeoutMs: number; logName: string },
  exitCode: number | null,
  stderr: string,
): string | undefined {
  const { slot, port, timeoutMs, logName } = where
  switch (result.outcome) {
    case 'healthy':
    case 'no-client':
      return undefined
    case 'timeout':
      return `${slot} slot (port ${port}) not healthy within health-timeout (${timeoutMs / 1000}s); last check: ${result.last}`
    case 'exited':
      return `the new version exited while booting on ${slot} (port ${port}); last lines of ${logName}:\n${result.logTail}`
    case 'foreign':
      return foreignListener(slot, result.last)
    case 'failed':
      return `the health check on the host failed (exit ${exitCode ?? 'none: cut off'}): ${stderr.trim()}`
  }
}

/**
 * The failure of a slot whose port answers from a process that is not the slot's (port_owner's
 * `problem`): never a switch, whatever it answered.
 */
export function foreignListener(slot: string, problem: string): string {
  return `the ${slot} slot's health check was answered, but not by the ${slot} slot: ${problem}. Nothing was switched; stop that process or choose another ${slot}-port.`
}
