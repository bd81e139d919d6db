// Sample background worker (`worker-command: jobs: node worker.js`) for the demo and the tests.
// Plain Node, no dependencies.
//
// The queue is a directory: a job is a file in $DEPLOY_PATH/shared/queue/ (written as .<name>,
// then renamed, so that no worker takes it half-written). A worker takes one by
// renaming it into shared/working/ (a rename happens once, so two workers never take the same
// job), works on it for JOB_MS (default 200), appends `<job> <version> <pid>` to shared/done.log
// and removes it from working/.
//
// SIGTERM: finish the job in hand, then exit 0 (nothing is lost or done twice by a deploy's stop).
// Test hook: CRASH_AT_BOOT=1 (env, or `crashAtBoot` in behaviour.json) exits 1 at once.
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
} from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

const shared = join(process.env.DEPLOY_PATH || '.', 'shared')
const queue = join(shared, 'queue')
const working = join(shared, 'working')
const behaviour = existsSync('behaviour.json')
  ? JSON.parse(readFileSync('behaviour.json', 'utf8'))
  : {}
const version = existsSync('VERSION')
  ? readFileSync('VERSION', 'utf8').trim()
  : process.env.APP_VERSION || 'dev'
const jobMs = Number(process.env.JOB_MS || behaviour.jobMs || 200)

function log(message) {
  process.stdout.write(
    `${new Date().toISOString()} [worker ${process.pid} ${version}] ${message}\n`,
  )
}

if (process.env.CRASH_AT_BOOT === '1' || behaviour.workerCrashAtBoot) {
  process.stderr.write('fatal: the worker cannot reach its queue\n')
  process.exit(1)
}

let stopping = false
process.on('SIGTERM', () => {
  log('SIGTERM: finishing the job in hand')
  stopping = true
})

/** Takes the oldest job off the queue, or returns undefined when there is none. */
function take() {
  // A name starting with '.' is a job still being written.
  for (const job of readdirSync(queue)
    .filter((name) => !name.startsWith('.'))
    .sort()) {
    try {
      renameSync(join(queue, job), join(working, job))
      return job
    } catch {
      // another worker took it first
    }
  }
  return undefined
}

mkdirSync(queue, { recursive: true })
mkdirSync(working, { recursive: true })
log(`started, ${jobMs} ms a job`)
while (!stopping) {
  const job = take()
  if (job === undefined) {
    await sleep(50)
    continue
  }
  await sleep(jobMs)
  appendFileSync(join(shared, 'done.log'), `${job} ${version} ${process.pid}\n`)
  rmSync(join(working, job))
}
log('stopped')
