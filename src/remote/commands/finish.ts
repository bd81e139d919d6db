/**
 * The end of a deploy on one host in one round trip: drain the old slot (drain_port, the loop of
 * waitForDrain: until no connection to its port for the quiet window, bounded by drain-timeout;
 * on timeout it is stopped anyway, as today), stop it (the slot manager's stop command), write state.json (computed
 * on the runner, with the old slot's pid cleared and the pruned releases left out of the
 * history) and remove the pruned releases (the runner computed them with releasesToPrune from the
 * release list of the prepare block plus this run's release). Between the two, the previous
 * release's workers stop, once state.json names the new ones. Last, the asset links to pruned
 * releases go (pruneAssetLinks). Steps stop at the first failure: state.json is written only once
 * the old slot stopped.
 *
 * Output: `open <n>` every 2 s while connections stay open (drainProgress reads it), then
 * `DRAIN idle|timeout <open connections>|skipped`, `STEP stop|state|workers|prune`, the asset
 * links' `UNLINKED <n>` when it removed some, then `OK`;
 * on a failure `FAILED <step>` with its stderr, exit FINISH_FAILED.
 */
import type { Layout } from '../layout.js'
import { script, type Shell } from '../shell.js'
import { DRAIN_FUNCTIONS, drainChecks } from './drain.js'
import { STATE_FUNCTIONS } from './files.js'

export const FINISH_FAILED = 6

export interface FinishSpec {
  layout: Layout
  /** The old slot to drain and stop; omitted: no old slot (first deploy, keep-previous warm). */
  old?: { port: number; drainTimeoutMs: number; quietChecks: number; stop: Shell }
  /**
   * This run's final state.json (an argument, not stdin: see switchUpstream), or undefined to
   * leave it as it is.
   */
  stateJson?: string
  /**
   * The stop of the previous release's workers, run once state.json names the new ones (or none);
   * omitted: no workers to stop.
   */
  retireWorkers?: Shell
  /** Release versions to remove (never the live or the previous one: the runner decides). */
  prune: string[]
  /** After the prune: the asset links to releases no longer kept go (pruneAssetLinks). */
  pruneLinks?: Shell
}

export function finishHost(spec: FinishSpec): Shell {
  const { layout: l, old } = spec
  return script(
    `${DRAIN_FUNCTIONS}
${STATE_FUNCTIONS}
port=$1; limit=$2; needed=$3; stopcmd=$4; state=$5; statejson=$6; workers=$7; links=$8
shift 8
fail() {
  echo "FAILED $1"
  [ -z "$2" ] || printf '%s\\n' "$2" >&2
  exit ${FINISH_FAILED}
}
if [ -z "$port" ] || [ "$limit" = 0 ]; then echo "DRAIN skipped"
elif drain_port "$port" "$limit" "$needed"; then echo "DRAIN idle"
else echo "DRAIN timeout $drain_left"
fi
if [ -n "$stopcmd" ]; then
  echo "STEP stop"
  (eval "$stopcmd") >&2 || fail stop
fi
if [ "$state" != - ]; then
  echo "STEP state"
  write_state "$state" "$statejson" || fail state
  backup_state "$state"
fi
if [ -n "$workers" ]; then
  echo "STEP workers"
  (eval "$workers") >&2 || fail workers
fi
if [ $# -gt 0 ]; then
  echo "STEP prune"
  rm -rf -- "$@" || fail prune
fi
if [ -n "$links" ]; then
  (eval "$links") || fail links
fi
echo OK`,
    old ? String(old.port) : '',
    String(old ? drainChecks(old.drainTimeoutMs) : 0),
    String(old?.quietChecks ?? 1),
    old?.stop.text ?? '',
    spec.stateJson === undefined ? '-' : l.state,
    spec.stateJson ?? '',
    spec.retireWorkers?.text ?? '',
    spec.pruneLinks?.text ?? '',
    ...spec.prune.map((version) => l.release(version)),
  )
}

export interface FinishResult {
  ok: boolean
  drain: 'idle' | 'timeout' | 'skipped' | 'unknown'
  /** Connections still open when drain-timeout ended. */
  openAtTimeout: number
  steps: string[]
  failedStep?: string
}

export function parseFinish(stdout: string): FinishResult {
  const lines = stdout.split('\n')
  const drain = lines.find((line) => line.startsWith('DRAIN '))?.split(' ') ?? []
  const failed = lines.find((line) => line.startsWith('FAILED '))
  const kind = drain[1]
  return {
    ok: lines.includes('OK'),
    drain: kind === 'idle' || kind === 'timeout' || kind === 'skipped' ? kind : 'unknown',
    openAtTimeout: Number(drain[2] ?? 0),
    steps: lines.filter((line) => line.startsWith('STEP ')).map((line) => line.slice(5)),
    ...(failed ? { failedStep: failed.slice(7) } : {}),
  }
}
