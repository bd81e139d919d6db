// A gunicorn-style master for the `reload` strategy demo and tests: it runs WORKERS copies of
// server.js from the release `$DEPLOY_PATH/current` points at, and on SIGHUP replaces them
// gracefully with workers of whatever `current` points at now: new workers first, and once they
// all listen, the old ones stop accepting and finish their in-flight requests.
//
// Start it from the release dir (start-command: `exec node cluster.js`); reload it with
// `reload-command: kill -HUP "$SLOT_PID"`. SIGTERM stops all workers gracefully, then the master.
import cluster from 'node:cluster'
import { realpathSync } from 'node:fs'
import { join } from 'node:path'

const WORKERS = Number(process.env.WORKERS || 2)
const current = process.env.DEPLOY_PATH ? join(process.env.DEPLOY_PATH, 'current') : process.cwd()

function log(message) {
  process.stdout.write(`${new Date().toISOString()} [master ${process.pid}] ${message}\n`)
}

/** Forks a generation of workers from the release `current` points at right now. */
function forkGeneration() {
  const dir = realpathSync(current)
  cluster.setupPrimary({ exec: join(dir, 'server.js'), cwd: dir })
  log(`starting ${WORKERS} workers from ${dir}`)
  return Array.from({ length: WORKERS }, () => cluster.fork())
}

forkGeneration()

process.on('SIGHUP', () => {
  const fresh = forkGeneration()
  // Every worker not of the new generation retires, also one left by a reload that failed.
  const old = Object.values(cluster.workers ?? {}).filter((w) => w && !fresh.includes(w))
  let listening = 0
  for (const worker of fresh) {
    worker.once('listening', () => {
      listening += 1
      if (listening === fresh.length) {
        log(`new workers listen; retiring ${old.length} old workers`)
        old.forEach((w) => w.isConnected() && w.disconnect())
      }
    })
  }
})

process.on('SIGTERM', () => {
  log('SIGTERM: stopping workers')
  for (const worker of Object.values(cluster.workers ?? {})) worker?.disconnect()
  cluster.on('exit', () => {
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0)
  })
})

cluster.on('exit', (worker, code) => log(`worker ${worker.process.pid} exited (${code})`))
