/**
 * The built-in process manager's supervisor, run by sh here: an app that dies is started again
 * (with backoff, each exit in the log and in <slot>.restarts), a slot the action stops stays
 * stopped, and boot.sh brings back the slots that ran before a "reboot" (every process gone).
 * Also the pure choice of `process-manager: auto`.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  detectProcessManager,
  parseProcessManagerFacts,
  resolveProcessManager,
} from '../../src/remote/commands/process-manager.js'
import {
  bootScriptPath,
  builtinSlots,
  restartsFile,
  supervisorPidfile,
  SLOT_EXITED,
  type SlotEnv,
} from '../../src/remote/commands/slot.js'
import { layout, type Layout } from '../../src/remote/layout.js'
import type { WorkerId } from '../../src/remote/state.js'
import {
  parseWorkers,
  startWorkers,
  stopWorkers,
  WORKERS_FAILED,
} from '../../src/remote/commands/workers.js'

let root: string
let l: Layout
let env: SlotEnv
const slots = () => builtinSlots(l, { app: 'shop', sudo: false, stopTimeoutSeconds: 2 })
const sh = (text: string) => spawnSync('sh', ['-c', text], { encoding: 'utf8' })

const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim() : '')
const appPid = () => Number(read(l.pidfile('blue')))
const running = (pid: number) => pid > 0 && sh(`kill -0 ${pid}`).status === 0 && !zombie(pid)
const zombie = (pid: number) => / Z /.test(read(`/proc/${pid}/stat`))

async function until(what: string, check: () => boolean, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'dzd-supervisor-'))
  l = layout(root)
  for (const dir of ['.deploy', 'logs', 'releases/v1'])
    mkdirSync(join(root, dir), { recursive: true })
  env = {
    PORT: '3001',
    SLOT: 'blue',
    APP_VERSION: 'v1',
    RELEASE_DIR: join(root, 'releases/v1'),
    DEPLOY_PATH: root,
    RELEASE_NODE: 'shop_blue',
  }
})

afterEach(() => {
  sh(slots().stop('blue', '', env).text)
  rmSync(root, { recursive: true, force: true })
})

describe('builtin supervisor', () => {
  it('starts the app again after SIGKILL; the slot counts as crashed only while booting', async () => {
    const started = execFileSync('sh', ['-c', slots().start('blue', 'exec sleep 60', env).text])
    const first = Number(started.toString().trim())
    expect(first).toBe(appPid())
    expect(running(first)).toBe(true)
    expect(sh(slots().checkAlive('blue', true).text).status).toBe(0)
    expect(sh(slots().restarts('blue').text).stdout).toBe('')

    process.kill(first, 'SIGKILL')
    await until('a new app pid', () => appPid() !== first && running(appPid()), 5000)
    expect(read(restartsFile(l, 'blue'))).toMatch(
      /^1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ was killed by signal KILL$/,
    )
    expect(read(l.slotLog('blue'))).toContain(
      `the app (pid ${first}) was killed by signal KILL; restart 1 in 1 s`,
    )
    expect(sh(slots().checkAlive('blue', false).text).status).toBe(0)
    const booting = sh(slots().checkAlive('blue', true).text)
    expect(booting.status).toBe(SLOT_EXITED)
    expect(booting.stdout).toContain('(restarted 1 time(s) by its supervisor; last at ')
    expect(sh(slots().restarts('blue').text).stdout).toMatch(/^1 \S+ was killed by signal KILL\n$/)
  })

  it('starts a slot that runs from current again in the release current points at now', async () => {
    // A server reloaded in place (strategy: reload) runs the release current points at; after a
    // crash it must not come back with the release current pointed at when the slot started.
    mkdirSync(join(root, 'releases/v2'))
    symlinkSync('releases/v1', l.current)
    const cwdFile = join(root, 'cwd')
    const command = `pwd -P > ${cwdFile}; exec sleep 60`
    execFileSync('sh', ['-c', slots().start('blue', command, env, l.current).text])
    const first = appPid()
    await until('the app to note its directory', () => read(cwdFile) !== '')
    expect(read(cwdFile)).toBe(join(root, 'releases/v1'))

    rmSync(cwdFile)
    sh(`ln -sfn releases/v2 ${l.current}`)
    process.kill(first, 'SIGKILL')
    await until('the app to start again', () => appPid() !== first && read(cwdFile) !== '')
    expect(read(cwdFile)).toBe(join(root, 'releases/v2'))
  })

  it('backs off in a crash loop, and shows each exit in the log', async () => {
    execFileSync('sh', ['-c', slots().start('blue', 'sleep 0.1; exit 7', env).text])
    await until('two restarts', () => read(restartsFile(l, 'blue')).startsWith('2 '), 8000)
    const log = read(l.slotLog('blue'))
    expect(log).toMatch(/exited with status 7; restart 1 in 1 s/)
    expect(log).toMatch(/exited with status 7; restart 2 in 2 s/)
    expect(sh(slots().checkAlive('blue').text).status).toBe(SLOT_EXITED)
  })

  it('a slot the action stops stays stopped, even with a stop-command that ends the app', async () => {
    execFileSync('sh', ['-c', slots().start('blue', 'exec sleep 60', env).text])
    const app = appPid()
    const supervisor = Number(read(supervisorPidfile(l, 'blue')))
    expect(running(supervisor)).toBe(true)
    const stop = sh(
      slots().stop('blue', 'kill -TERM "$(cat "$DEPLOY_PATH/.deploy/$SLOT.pid")"', env).text,
    )
    expect(stop.stderr).toBe('')
    expect(stop.status).toBe(0)
    expect(running(app)).toBe(false)
    expect(running(supervisor)).toBe(false)
    await new Promise((r) => setTimeout(r, 1500))
    expect(existsSync(l.pidfile('blue'))).toBe(false)
    expect(existsSync(supervisorPidfile(l, 'blue'))).toBe(false)
    expect(read(l.slotLog('blue'))).not.toContain('restart 1')
    expect(sh(slots().checkAlive('blue').text).status).toBe(SLOT_EXITED)
    // boot.sh leaves a stopped slot stopped.
    expect(sh(`sh ${bootScriptPath(l)}`).stdout).toBe('')
    expect(existsSync(l.pidfile('blue'))).toBe(false)
  })

  it('boot.sh starts the slot that ran when every process of it went (a reboot), once', async () => {
    execFileSync('sh', ['-c', slots().start('blue', 'exec sleep 60', env).text])
    const app = appPid()
    const supervisor = Number(read(supervisorPidfile(l, 'blue')))
    process.kill(supervisor, 'SIGKILL')
    process.kill(app, 'SIGKILL')
    await until('the slot to be down', () => !running(app) && !running(supervisor))
    expect(sh(slots().checkAlive('blue').text).status).toBe(SLOT_EXITED)
    expect(sh(`sh ${bootScriptPath(l)}`).stdout).toBe('blue: started\n')
    await until('the app to run again', () => appPid() !== app && running(appPid()))
    expect(sh(slots().checkAlive('blue').text).status).toBe(0)
    // A second run finds the supervisor and leaves it alone.
    expect(sh(`sh ${bootScriptPath(l)}`).stdout).toBe('')
    expect(read(l.slotLog('blue'))).toContain('boot.sh: starting the blue slot again')
  })
})

describe('process-manager auto', () => {
  const facts = (text: string) => parseProcessManagerFacts(text)

  it('asks the host with one read-only command, sudo -l only with sudo: true', () => {
    const { text } = detectProcessManager('shop', true)
    expect(text).toMatch(/ sh \/etc\/systemd\/system\/shop@\.service shop@blue yes$/)
    expect(text).toContain(`sudo -n -l systemctl enable --now --quiet "$2"`)
    expect(detectProcessManager('shop', false).text).toMatch(/ shop@blue no$/)
  })

  it('uses systemd where it runs the host and the user may manage the units', () => {
    expect(resolveProcessManager(facts('systemd=yes\nuid=0\n'), 'shop', 'root')).toEqual({
      manager: 'systemd',
      reason: 'systemd runs this host and root is root',
    })
    expect(
      resolveProcessManager(facts('systemd=yes\nuid=1500\nsudo-systemctl=yes\n'), 'shop', 'deploy')
        .manager,
    ).toBe('systemd')
  })

  it('falls back to the supervised builtin manager otherwise', () => {
    expect(resolveProcessManager(facts('systemd=no\n'), 'shop', 'root')).toEqual({
      manager: 'builtin',
      reason: 'systemd does not run this host',
    })
    expect(resolveProcessManager(facts('systemd=yes\nuid=1500\n'), 'shop', 'deploy')).toEqual({
      manager: 'builtin',
      reason:
        'deploy may not manage systemd units (not root, and sudo does not allow systemctl for them)',
    })
  })

  it('refuses a host whose units are installed but that the user may not manage', () => {
    const resolved = resolveProcessManager(
      facts('systemd=yes\nuid=1500\nunit=yes\n'),
      'shop',
      'deploy',
    )
    expect(resolved.manager).toBe('error')
    expect(resolved.reason).toBe(
      'process-manager auto: /etc/systemd/system/shop@.service is installed, so this app\'s slots run as systemd units, but deploy may not manage them (root, or sudo: true with the sudoers lines of README "process-manager"). Allow it, or set process-manager: builtin after stopping the units (systemctl disable --now shop@blue shop@green). Nothing was changed.',
    )
  })
})

describe('workers under the builtin supervisor, run by sh', () => {
  const workerEnv = (name: string) => ({
    WORKER: name,
    APP_VERSION: 'v1',
    RELEASE_DIR: join(root, 'releases/v1'),
    DEPLOY_PATH: root,
    RELEASE_NODE: `shop_${name}_blue`,
  })
  const start = (id: WorkerId, name: string, command: string) => ({
    id,
    start: slots().start(id, command, workerEnv(name)),
    alive: slots().checkAlive(id, true),
  })
  afterEach(() => {
    for (const id of ['worker-jobs-blue', 'worker-mail-blue'] as const) {
      sh(slots().stop(id, '', workerEnv(id)).text)
    }
  })

  it('start together and are up after the settle time; one that dies is named with its log', () => {
    const result = sh(
      startWorkers(
        [
          start('worker-jobs-blue', 'jobs', 'exec sleep 60'),
          start('worker-mail-blue', 'mail', 'echo "fatal: no queue" >&2; exit 1'),
        ],
        1,
      ).text,
    )
    expect(result.status).toBe(WORKERS_FAILED)
    const reports = parseWorkers(result.stdout)
    expect(reports.map((r) => [r.id, r.state])).toEqual([
      ['worker-jobs-blue', 'up'],
      ['worker-mail-blue', 'exited'],
    ])
    expect(reports[1]!.detail).toContain('fatal: no queue')
    // A worker has no port: nothing of free_port ran, and its log names no port.
    expect(read(l.slotLog('worker-jobs-blue'))).toMatch(/=== starting v1: exec sleep 60$/m)
  })

  it('a stop-command gets WORKER_PID, the worker below the shell; the stop waits for the whole group', () => {
    expect(
      sh(startWorkers([start('worker-jobs-blue', 'jobs', 'sleep 60; :')], 1).text).status,
    ).toBe(0)
    const leader = Number(read(l.pidfile('worker-jobs-blue')))
    const stop = sh(
      stopWorkers([
        slots().stop(
          'worker-jobs-blue',
          'echo "$WORKER_PID" > "$DEPLOY_PATH/worker-pid"; kill -TERM "$WORKER_PID"',
          workerEnv('jobs'),
        ),
      ]).text,
    )
    expect(stop.status).toBe(0)
    const main = Number(read(join(root, 'worker-pid')))
    expect(main).not.toBe(leader)
    expect(read(`/proc/${main}/comm`)).toBe('')
    expect(running(leader)).toBe(false)
  })
})
