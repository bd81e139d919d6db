/**
 * The workers of a release (`worker-command`) on one host, in one round trip each way: start them
 * all, then check after a short settle time that each still runs (a worker that dies at boot, a
 * missing variable or an unreachable queue, fails the run with its log); stop a generation of
 * them all at once, each the way its slot manager stops it.
 *
 * startWorkers prints per worker `WORKER <id> up`, or `WORKER <id> exited` / `failed` followed by
 * its log tail (or the start's output) indented by two spaces; it exits WORKERS_FAILED when any
 * did not come up.
 */
import { script, type Shell } from '../shell.js'
import type { WorkerId } from '../state.js'
import { SLOT_EXITED } from './slot.js'

export const WORKERS_FAILED = 9

/** How long a started worker must keep running (without a restart) to count as up. */
export const WORKER_SETTLE_SECONDS = 2

/** One worker to start: the slot manager's start and checkAlive(id, true) for it. */
export interface WorkerStart {
  id: WorkerId
  start: Shell
  alive: Shell
}

export function startWorkers(workers: WorkerStart[], settleSeconds = WORKER_SETTLE_SECONDS): Shell {
  return script(
    `settle=$1; shift
# Each pass takes the (id, start, alive) triples off the front and puts them back at the end.
count=$(($# / 3)); failed=0; i=0
while [ "$i" -lt "$count" ]; do
  id=$1; start=$2; alive=$3; shift 3; set -- "$@" "$id" "$start" "$alive"
  if ! out=$(sh -c "$start" 2>&1); then
    echo "WORKER $id failed"; printf '%s\\n' "$out" | sed 's/^/  /'; failed=1
  fi
  i=$((i + 1))
done
[ "$failed" = 1 ] || sleep "$settle"
i=0
while [ "$failed" = 0 ] && [ "$i" -lt "$count" ]; do
  id=$1; start=$2; alive=$3; shift 3; set -- "$@" "$id" "$start" "$alive"
  out=$(sh -c "$alive" 2>&1)
  if [ $? -eq ${SLOT_EXITED} ]; then
    echo "WORKER $id exited"; printf '%s\\n' "$out" | sed 's/^/  /'; failed=1
  else
    echo "WORKER $id up"
  fi
  i=$((i + 1))
done
[ "$failed" = 0 ] || exit ${WORKERS_FAILED}`,
    String(settleSeconds),
    ...workers.flatMap((w) => [w.id, w.start.text, w.alive.text]),
  )
}

/** The slot manager's stops of some workers, run at once; fails when any failed. */
export function stopWorkers(stops: Shell[]): Shell {
  return script(
    `pids=
for stop in "$@"; do
  sh -c "$stop" &
  pids="$pids $!"
done
rc=0
for pid in $pids; do wait "$pid" || rc=1; done
exit $rc`,
    ...stops.map((stop) => stop.text),
  )
}

export interface WorkerReport {
  id: WorkerId
  state: 'up' | 'exited' | 'failed'
  /** What it printed (the start's output, or the log tail of one that exited). */
  detail: string
}

/** startWorkers' report, per worker it got to. */
export function parseWorkers(stdout: string): WorkerReport[] {
  const reports: WorkerReport[] = []
  for (const line of stdout.split('\n')) {
    const match = /^WORKER (worker-\S+) (up|exited|failed)$/.exec(line)
    if (match) {
      reports.push({
        id: match[1] as WorkerId,
        state: match[2] as WorkerReport['state'],
        detail: '',
      })
    } else if (line.startsWith('  ') && reports.length > 0) {
      const last = reports.at(-1)!
      last.detail = last.detail === '' ? line.slice(2) : `${last.detail}\n${line.slice(2)}`
    }
  }
  return reports
}
