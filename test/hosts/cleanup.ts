const tasks = new Set<() => void>()
let installed = false

/**
 * Runs `task` (synchronous, best-effort) when the process exits, including on SIGINT, SIGTERM
 * (how vitest stops its fork workers, which skips 'exit' handlers) and SIGHUP. Returns an
 * unregister function.
 */
export function onProcessExit(task: () => void): () => void {
  tasks.add(task)
  if (!installed) install()
  return () => tasks.delete(task)
}

function runAll(): void {
  for (const task of [...tasks]) {
    tasks.delete(task)
    try {
      task()
    } catch {
      // best-effort
    }
  }
}

function install(): void {
  installed = true
  process.once('exit', runAll)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      runAll()
      // Re-raise for the default behaviour unless someone else handles the signal.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
    })
  }
}
