/**
 * bench/startup: time from starting `node dist/index.js` (as the runner does) to its first SSH
 * connection, and the size of dist/. Target (issue 9): <= 300 ms.
 *
 *   npm run bench:startup          (no root needed; ~10 seconds)
 *
 * The "host" is a TCP server on 127.0.0.1 that notes when the first connection arrives and then
 * closes it; the action is stopped right after. Before connecting, the action validates its
 * inputs and packs the sample app release (as in a real run without build-command). Median of
 * RUNS, next to the bundle run without inputs (loading it and failing validation) and `node -e ''`
 * (Node's own start-up) on the same machine.
 */
import { spawn } from 'node:child_process'
import { copyFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { runnerDefaults } from '../test/action-runner.js'
import { makeRelease } from '../test/deploy-fixture.js'
import { freePort } from '../test/free-port.js'
import { makeClientKey } from '../test/hosts/index.js'
import { requireBundle } from './lib/action.js'
import { machineLine, markdownTable, median } from './lib/stats.js'
import { tempDir } from './lib/tmp.js'

const RUNS = 9
const TARGET_MS = 300
const DIST = new URL('../dist/', import.meta.url)

requireBundle()
const dir = tempDir('startup')
// Like the runner: the bundle alone, in a folder with no node_modules above it.
copyFileSync(new URL('index.js', DIST), join(dir, 'index.js'))
writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n')
const key = await makeClientKey({ dir })
const release = makeRelease('startup')

/** Milliseconds from spawning `argv` to the first TCP connection to `port` (or to its exit). */
function timeToConnect(
  argv: string[],
  env: Record<string, string>,
  port?: number,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    const started = performance.now()
    const child = spawn(process.execPath, argv, {
      cwd: dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr.on('data', (d: Buffer) => (output += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    const done = (ms: number) => {
      clearTimeout(timer)
      server.close()
      child.kill('SIGKILL')
      resolve(ms)
    }
    server.on('connection', (socket) => {
      socket.destroy()
      done(performance.now() - started)
    })
    server.listen(port ?? 0, '127.0.0.1')
    child.on('exit', (code) => {
      if (port === undefined) return done(performance.now() - started)
      clearTimeout(timer)
      server.close()
      reject(new Error(`the action exited (${code}) before connecting:\n${output.slice(-2000)}`))
    })
  })
}

async function actionRun(): Promise<number> {
  const port = await freePort()
  const inputs: Record<string, string> = {
    ...runnerDefaults(),
    hosts: '127.0.0.1',
    'ssh-port': String(port),
    'ssh-key': key.privateKey,
    'known-hosts': `[127.0.0.1]:${port} ${key.publicKey.split(' ').slice(0, 2).join(' ')}\n`,
    'app-name': 'shop',
    'release-path': release,
    'start-command': 'exec node server.js',
    'connect-timeout': '2s',
    version: 'startup',
  }
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    GITHUB_ACTIONS: 'true',
    RUNNER_TEMP: dir,
  }
  for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.toUpperCase()}`] = value
  return timeToConnect([join(dir, 'index.js')], env, port)
}

const action: number[] = []
const noInputs: number[] = []
const bare: number[] = []
const path = { PATH: process.env.PATH ?? '' }
for (let i = 0; i < RUNS; i++) {
  action.push(await actionRun())
  noInputs.push(await timeToConnect([join(dir, 'index.js')], path))
  bare.push(await timeToConnect(['-e', ''], path))
}
console.error(`to first connect: ${action.map(Math.round).join(', ')} ms`)
console.error(`no inputs, to exit: ${noInputs.map(Math.round).join(', ')} ms`)
console.error(`node -e '': ${bare.map(Math.round).join(', ')} ms`)

const files = readdirSync(DIST).filter((f) => statSync(new URL(f, DIST)).isFile())
const bytes = files.reduce((sum, f) => sum + statSync(new URL(f, DIST)).size, 0)
const gzip = files.reduce((sum, f) => sum + gzipSync(readFileSync(new URL(f, DIST))).length, 0)
const mb = (n: number) => `${(n / 1e6).toFixed(2)} MB`
const ms = (n: number) => `${Math.round(n)} ms`
const row = (what: string, values: number[]) => [
  what,
  ms(median(values)),
  ms(Math.min(...values)),
  ms(Math.max(...values)),
]
console.log(
  markdownTable(
    ['what', '>median', '>min', '>max'],
    [
      row('`node dist/index.js` to first SSH connect', action),
      row(
        '`node dist/index.js` without inputs, to exit (load the bundle, fail validation)',
        noInputs,
      ),
      row("`node -e ''` (Node start-up alone)", bare),
    ],
  ),
)
console.log(`\ndist/: ${files.length} file(s), ${mb(bytes)} (${mb(gzip)} gzip).`)
console.log(
  `Target: <= ${TARGET_MS} ms to first connect (median of ${RUNS}): ` +
    `${median(action) <= TARGET_MS ? 'met' : 'not met'}. ${await machineLine()}`,
)
