/**
 * Start commands as users write them, whose server is a child of the shell (`/bin/sh` is dash on
 * the lab hosts, as on Debian and Ubuntu, and dash stays the parent of `node server.js`): no
 * `exec`, `a && b`, a server that forks workers, an `npm start`-like wrapper that does not pass
 * signals on. With each, on its own host: v1 -> v2 -> v3 blue-green, a rollback, a canary abort,
 * a failed health check, a reload (which switches slots: the live one runs from its release
 * dir) and a run killed mid-start that its post step cleans up. After each, exactly one server
 * listens on the live slot's port, every process of the app runs the live version, and nothing
 * listens on the other slot's port. Also: a port held by another program fails the run (and
 * dry-run) naming it; a leftover of this app is stopped and said in the log.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorLine, runAction } from '../../test/action-runner.js'
import {
  addSite,
  deployInputs,
  hostState,
  makeRelease,
  servedVersion,
} from '../../test/deploy-fixture.js'
import { waitOnHost } from '../../test/faults.js'
import { startLab, type Lab, type LabHost } from '../../test/hosts/index.js'

/** A server that forks its workers (node cluster; the primary holds the listening socket). */
const FORK_JS = `import cluster from 'node:cluster'
if (cluster.isPrimary) for (let i = 0; i < 2; i++) cluster.fork()
else await import('./server.js')
`
/** Like \`npm start\`: runs the server under sh and passes no signal on. */
const WRAPPER_JS = `import { spawn } from 'node:child_process'
const child = spawn('sh', ['-c', 'node server.js'], { stdio: 'inherit' })
child.on('exit', (code) => process.exit(code ?? 1))
`

const START_COMMANDS = [
  ['node server.js', 'the shell stays the server parent'],
  ['cd . && node server.js', 'a && b'],
  ['node fork.js', 'a server that forks workers'],
  ['node wrapper.js', 'an npm start-like wrapper that passes no signal on'],
] as const

let lab: Lab

beforeAll(async () => {
  lab = await startLab({ hosts: START_COMMANDS.length + 1, name: 'start-commands' })
})

afterAll(async () => {
  await lab?.stop()
})

/** A release of the sample app with the two extra entry points. */
function release(version: string, behaviour?: Record<string, unknown>): string {
  const dir = makeRelease(version, behaviour)
  writeFileSync(join(dir, 'fork.js'), FORK_JS)
  writeFileSync(join(dir, 'wrapper.js'), WRAPPER_JS)
  return dir
}

/**
 * Processes of this app on the host (the slots' supervisors too): those running from one of its
 * releases, with the version of that release.
 */
async function appProcesses(host: LabHost): Promise<{ pid: number; version: string }[]> {
  // The lab hosts share the machine's pids: only the host's own mount namespace counts.
  const { stdout } = await host.sh(`ns=$(readlink /proc/$$/ns/mnt)
for p in /proc/[0-9]*; do
  [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$ns" ] || continue
  case $(readlink "$p/cwd" 2>/dev/null) in /srv/shop/releases/*) ;; *) continue ;; esac
  v=$(readlink "$p/cwd" | cut -d/ -f5)
  echo "\${p#/proc/} $v"
done`)
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [pid = '', version = ''] = line.split(' ')
      return { pid: Number(pid), version }
    })
}

/** The pids of the processes listening on a TCP port of the host. */
async function listenerPids(host: LabHost, port: number): Promise<number[]> {
  const { stdout } = await host.sh(`ss -Hltnp 'sport = :${port}'`)
  return [...new Set([...stdout.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])))]
}

/**
 * The host serves `version` through nginx; one process listens on the live slot's port and
 * runs it; every process of the app runs it; nothing listens on the other slot's port.
 */
async function expectOnlyLive(host: LabHost, version: string): Promise<void> {
  expect(await servedVersion(host)).toBe(version)
  const state = (await hostState(host)) as { liveSlot: 'blue' | 'green' }
  const [live, idle] = state.liveSlot === 'blue' ? [3001, 3002] : [3002, 3001]
  const processes = await appProcesses(host)
  const listeners = await listenerPids(host, live)
  expect(listeners, `one server on port ${live}`).toHaveLength(1)
  expect(processes.map((p) => p.pid)).toContain(listeners[0])
  expect(
    processes.filter((p) => p.version !== version),
    `processes of other versions than ${version}`,
  ).toEqual([])
  expect(await listenerPids(host, idle), `listeners on the idle port ${idle}`).toEqual([])
}

describe.concurrent('start commands whose server is a child of the shell', () => {
  it.each(START_COMMANDS.map(([command, what], i) => [what, command, i] as const))(
    '%s (%s): every run leaves exactly the live version running',
    async (_, command, index) => {
      const host = lab.hosts[index]!
      const inputs = (version: string, extra: Record<string, string> = {}, behaviour?: object) =>
        deployInputs(lab, [host], release(version, behaviour as Record<string, unknown>), {
          version,
          'start-command': command,
          'health-timeout': '10s',
          ...extra,
        })
      const deploy = async (...args: Parameters<typeof inputs>) => {
        const run = await runAction(inputs(...args))
        expect(errorLine(run.main.log)).toBe('')
        return run
      }

      for (const version of ['v1', 'v2', 'v3']) {
        const run = await deploy(version)
        expect(run.main.outputs.status).toBe('deployed')
        // The operator's site proxies to the upstream the first deploy wrote.
        if (version === 'v1') await addSite(host, 'shop')
        await expectOnlyLive(host, version)
      }

      const back = await deploy('v2', { rollback: 'true' })
      expect(back.main.outputs).toMatchObject({ status: 'rolled-back', version: 'v2' })
      await expectOnlyLive(host, 'v2')

      const canary = await runAction(
        inputs('v4', {
          strategy: 'canary',
          'canary-weight': '50,100',
          'canary-step-duration': '1s',
          'canary-max-error-rate': 'off',
          'canary-check-command': 'exit 1',
        }),
      )
      expect(canary.main.outputs.status).toBe('failed')
      await expectOnlyLive(host, 'v2')

      const unhealthy = await runAction(
        inputs('v5', { 'health-timeout': '2s' }, { healthStatus: 503 }),
      )
      expect(errorLine(unhealthy.main.log)).toContain('not healthy within health-timeout')
      await expectOnlyLive(host, 'v2')

      // The live slot runs from releases/v2: the reload starts v6 from current on the other
      // slot and switches to it.
      const reload = await deploy('v6', {
        strategy: 'reload',
        'reload-command': 'kill -HUP "$SLOT_PID"',
        'version-path': '/version',
      })
      expect(reload.main.log).toContain(
        'runs from /srv/shop/releases/v2, not from /srv/shop/current',
      )
      await expectOnlyLive(host, 'v6')

      const killed = await runAction(inputs('v7', {}, { bootDelayMs: 8000 }), {
        killAfterMs: 3000,
      })
      expect(killed.main.exitCode).toBeNull()
      expect(killed.post.exitCode).toBe(0)
      expect(killed.post.log).toContain('slot the run had started')
      await expectOnlyLive(host, 'v6')
    },
    300_000,
  )
})

describe('the slot port before a start', () => {
  const host = () => lab.hosts[START_COMMANDS.length]!
  const inputs = (version: string, extra: Record<string, string> = {}) =>
    deployInputs(lab, [host()], release(version), {
      version,
      'start-command': 'node server.js',
      ...extra,
    })

  it('a program that is not this app fails the run and the dry-run, named; a leftover of this app is stopped', async () => {
    expect((await runAction(inputs('p1'))).main.outputs.status).toBe('deployed')
    await addSite(host(), 'shop')
    // Another program on the idle (green) slot's port, answering 200 to everything.
    await host().sh(
      `cd /tmp && setsid node -e 'require("http").createServer((q, s) => s.end("p0")).listen(3002)' > /dev/null 2>&1 < /dev/null &`,
    )
    await waitOnHost(host(), "ss -Hltn 'sport = :3002' | grep -q .")
    const [stranger] = await listenerPids(host(), 3002)
    try {
      const dry = await runAction(inputs('p2', { 'dry-run': 'true' }))
      expect(dry.main.exitCode).toBe(1)
      expect(errorLine(dry.main.log)).toContain(
        `green-port 3002 is taken: pid ${stranger} (node -e require("http")`,
      )
      const run = await runAction(inputs('p2'))
      expect(run.main.outputs.status).toBe('failed')
      expect(errorLine(run.main.log)).toContain(
        `[${host().address}] start green: green-port 3002 is taken: pid ${stranger} (node -e require("http")`,
      )
      expect(errorLine(run.main.log)).toContain('listens on it and is not a process of this app')
      expect(await servedVersion(host())).toBe('p1')
    } finally {
      await host().sh(`kill ${stranger}`)
    }

    // A server of this app that an earlier stop left behind, on the idle port: the next
    // deploy stops it, says so, and serves the new version.
    await host().sh(
      `cd /srv/shop/releases/p1 && PORT=3002 APP_VERSION=p1 setsid node server.js > /dev/null 2>&1 < /dev/null &`,
    )
    await waitOnHost(host(), "ss -Hltn 'sport = :3002' | grep -q .")
    const [leftover] = await listenerPids(host(), 3002)
    const dry = await runAction(inputs('p3', { 'dry-run': 'true' }))
    expect(dry.main.exitCode).toBe(0)
    expect(dry.main.log).toContain(
      `green-port 3002: a leftover of this app would be stopped first: pid ${leftover} (node server.js)`,
    )
    const run = await runAction(inputs('p3'))
    expect(errorLine(run.main.log)).toBe('')
    expect(run.main.log).toContain(
      `[${host().address}] green-port 3002 was held by a leftover of this app, now stopped: pid ${leftover} (node server.js)`,
    )
    await expectOnlyLive(host(), 'p3')
  }, 120_000)
})
