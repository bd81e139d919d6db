/**
 * Fault injection inside a lab host, for the fault suite and its soak: drop the SSH connections
 * of a run at a chosen moment, freeze sshd. Only processes of the given host are touched: the
 * descendants of its own sshd listener, found inside its namespaces by pid.
 */
import { expect } from 'vitest'
import { errorLine, type ActionRun } from './action-runner.js'
import type { LabHost } from './hosts/index.js'
import { waitFor } from './wait.js'

function listenerPid(host: LabHost): number {
  const pid = host.pid
  if (!pid) throw new Error(`${host.name} is stopped`)
  return pid
}

/**
 * SIGKILLs every per-connection sshd process of the host (not its listener): every open SSH
 * connection to it drops at once, as when a link dies. Returns how many processes it killed.
 */
export async function dropSshConnections(host: LabHost): Promise<number> {
  const { stdout } = await host.sh(
    `pids=$(ps -e -o pid=,ppid=,comm= | awk -v root=${listenerPid(host)} '
  { pid[NR] = $1; parent[NR] = $2; name[NR] = $3 }
  END {
    below[root] = 1
    for (grew = 1; grew; ) {
      grew = 0
      for (i = 1; i <= NR; i++) if (below[parent[i]] && !below[pid[i]]) { below[pid[i]] = 1; grew = 1 }
    }
    for (i = 1; i <= NR; i++) if (below[pid[i]] && pid[i] != root && name[i] ~ /^sshd/) print pid[i]
  }')
[ -z "$pids" ] || kill -9 $pids
echo "$pids"`,
  )
  return stdout.split('\n').filter(Boolean).length
}

/** Freezes (SIGSTOP) or thaws (SIGCONT) the host's sshd listener: new connections hang. */
export async function freezeSshd(host: LabHost, frozen: boolean): Promise<void> {
  await host.sh(`kill -${frozen ? 'STOP' : 'CONT'} ${listenerPid(host)}`)
}

/**
 * Waits until `test` (a shell condition run inside the host, e.g. `[ -f /srv/x ]`) holds; polls
 * every 20 ms. Throws after `timeoutMs` (generous by default: the machine is shared).
 */
export async function waitOnHost(host: LabHost, test: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(async () => (await host.sh(test, { allowFail: true })).exitCode === 0, {
    what: `${host.name}: ${test}`,
    timeoutMs,
    intervalMs: 20,
  })
}

/**
 * The run failed, and its error (the run's first `::error::` line, returned) names `target` and a
 * step matching `step`; its post step ended well (it repaired what it had to).
 */
export function expectFailedRun(run: ActionRun, target: LabHost, step: RegExp): string {
  expect(run.main.exitCode).toBe(1)
  expect(run.main.outputs.status).toBe('failed')
  const error = errorLine(run.main.log)
  const host = target.address.replaceAll('.', '\\.')
  expect(error).toMatch(new RegExp(`^::error::\\[${host}\\] (${step.source}): `))
  expect(run.post.exitCode).toBe(0)
  return error
}
