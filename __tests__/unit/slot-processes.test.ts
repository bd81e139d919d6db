/**
 * The shell functions that treat a slot as a whole (processes.ts), run here by each /bin/sh a host
 * may have (dash, bash, BusyBox ash) against real processes and sockets on this machine: a slot
 * started like the built-in manager starts it (`setsid sh -c '<start-command>'`), with a start
 * command whose server is a child of the shell, as under dash without `exec`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { PROCESS_FUNCTIONS } from '../../src/remote/commands/processes.js'
import { freePort } from '../../test/free-port.js'
import { tempDir } from '../../test/tmp.js'
import { waitFor } from '../../test/wait.js'

const has = (program: string) => spawnSync('sh', ['-c', `command -v ${program}`]).status === 0
/** The shells that run the host scripts: dash (Debian's /bin/sh), bash, BusyBox ash. */
const SHELLS = [['dash'], ['bash'], ...(has('busybox') ? [['busybox', 'sh']] : [])]

/** A node server on `port` (all addresses, IPv6 included), as a start command runs it. */
const server = (port: number) =>
  `node -e 'require("http").createServer((q, s) => s.end("ok")).listen(${port})'`

const started: ChildProcess[] = []
afterEach(() => {
  for (const child of started.splice(0)) {
    try {
      process.kill(-child.pid!, 'SIGKILL')
    } catch {
      // already gone
    }
  }
})

/**
 * `sh -c <command>` from `cwd` in a session of its own (setsid, as the supervisor starts a slot):
 * its pid leads the group.
 */
function startGroup(command: string, cwd: string, env: Record<string, string> = {}): number {
  const child = spawn('sh', ['-c', command], {
    cwd,
    env: { ...process.env, ...env },
    stdio: 'ignore',
    detached: true,
  })
  started.push(child)
  return child.pid!
}

async function listening(port: number): Promise<void> {
  await waitFor(
    () =>
      fetch(`http://127.0.0.1:${port}/`).then(
        (r) => r.ok,
        () => false,
      ),
    { what: `a server on port ${port}` },
  )
}

describe.each(SHELLS)('slot processes under %s', (...shell) => {
  const run = (script: string) => {
    const result = spawnSync(
      shell[0]!,
      [...shell.slice(1), '-c', `${PROCESS_FUNCTIONS}\n${script}`],
      {
        encoding: 'utf8',
        timeout: 30_000,
      },
    )
    return { status: result.status, stdout: result.stdout, stderr: result.stderr }
  }
  const alive = (pid: number) => run(`alive ${pid}`).status === 0

  it('stops the whole group: the server below a shell that does not exec it, and its children', async () => {
    const port = await freePort()
    const leader = startGroup(`${server(port)}; echo exited`, tempDir('slot'))
    await listening(port)
    const before = run(`group_pids ${leader}; echo "$pids"`).stdout.trim().split(' ')
    expect(before.length).toBeGreaterThanOrEqual(2)
    expect(run(`listeners ${port}; port_owner ${port}; echo "$?"`).stdout).toBe('2\n')
    const owner = run(`group_pids ${leader}; port_owner ${port}; echo "$? $problem"`)
    expect(owner.stdout).toBe('0 \n')
    const server_ = run(`group_pids ${leader}; server_pid ${port}; echo "$server"`).stdout.trim()
    expect(server_).not.toBe(String(leader))
    expect(before).toContain(server_)

    const stop = run(`stop_group ${leader} 5 'the blue slot'`)
    expect(stop).toMatchObject({ status: 0, stderr: '' })
    expect(before.filter((pid) => alive(Number(pid)))).toEqual([])
    expect(run(`listeners ${port}; echo "[$listening]"`).stdout).toBe('[]\n')
  })

  it('counts no zombie as a process of the group, and SIGKILLs what ignores SIGTERM', async () => {
    // `exec sleep` never reaps the child that exits: a zombie in the group.
    const leader = startGroup(`trap '' TERM; sleep 0.1 & exec sleep 60`, tempDir('slot'))
    await waitFor(() => run(`group_pids ${leader}; echo "$pids"`).stdout === `${leader}\n`, {
      what: 'the child to exit (a zombie: sleep does not reap it)',
    })
    expect(run(`grep -l ' Z ' /proc/[0-9]*/stat | wc -l`).stdout.trim()).not.toBe('0')
    const stop = run(`stop_group ${leader} 1 'the green slot'`)
    expect(stop.status).toBe(0)
    expect(stop.stderr).toBe('the green slot did not stop within 1 s: SIGKILL\n')
    expect(alive(leader)).toBe(false)
    expect(run(`group_alive ${leader}`).status).toBe(1)
  })

  it('fails naming what is left 5 s after the SIGKILL', async () => {
    const leader = startGroup('exec sleep 60', tempDir('slot'))
    await waitFor(() => run(`tr '\\0' ' ' < /proc/${leader}/cmdline`).stdout === 'sleep 60 ', {
      what: 'the slot to run sleep',
    })
    // A kill that reaches nothing stands in for a process the SIGKILL cannot end.
    const stop = run(`kill() { :; }; stop_group ${leader} 1 'the blue slot'`)
    expect(stop.status).toBe(1)
    expect(stop.stderr).toBe(
      `the blue slot did not stop within 1 s: SIGKILL\nthe blue slot still runs 5 s after SIGKILL: pid ${leader} (sleep 60)\n`,
    )
  }, 15_000)

  it('frees a port held by a leftover of this app, and refuses a stranger and the other slot', async () => {
    const deploy = tempDir('deploy')
    const release = join(deploy, 'releases', 'v1')
    mkdirSync(release, { recursive: true })
    const [byCwd, byEnv, stranger, live] = await Promise.all([1, 2, 3, 4].map(() => freePort()))
    startGroup(`${server(byCwd!)}; :`, release)
    startGroup(`${server(byEnv!)}; :`, tempDir('elsewhere'), { DEPLOY_PATH: deploy })
    startGroup(`${server(stranger!)}; :`, tempDir('elsewhere'))
    const other = startGroup(`${server(live!)}; :`, release)
    await Promise.all([byCwd!, byEnv!, stranger!, live!].map(listening))
    const free = (port: number, mode: string) =>
      run(`free_port ${port} ${mode} 'pids=' 'group_pids ${other}' ${deploy} shop blue systemctl 2`)

    const check = free(byCwd!, 'check')
    expect(check.stdout).toMatch(
      new RegExp(`^PORT leftover ${byCwd} pid \\d+ \\(node -e .*\\)\\n$`),
    )
    expect(free(live!, 'check').stdout).toMatch(new RegExp(`^PORT live ${live} pid \\d+ `))
    expect(free(stranger!, 'check').stdout).toMatch(
      new RegExp(`^PORT stranger ${stranger} pid \\d+ `),
    )

    for (const port of [byCwd!, byEnv!]) {
      const stop = free(port, 'stop')
      expect(stop.status, stop.stderr).toBe(0)
      expect(stop.stdout).toMatch(new RegExp(`^PORT stopped ${port} pid \\d+ \\(node -e .*\\)\\n$`))
      expect(run(`listeners ${port}; echo "[$listening]"`).stdout).toBe('[]\n')
    }
    for (const port of [stranger!, live!]) {
      const refused = free(port, 'stop')
      expect(refused.status).toBe(1)
      expect(refused.stdout).toMatch(/^PORT (stranger|live) /)
      expect(run(`listeners ${port}; echo "$listening" | wc -l`).stdout.trim()).not.toBe('0')
    }
    expect(free(await freePort(), 'stop')).toMatchObject({ status: 0, stdout: '' })
  })

  it('reads a slot from its pidfile only when it was written since the boot', () => {
    const dir = tempDir('pidfile')
    const leader = startGroup('exec sleep 60', dir)
    const pidfile = join(dir, 'blue.pid')
    expect(run(`echo ${leader} > ${pidfile}; slot_pids ${pidfile}; echo "$pids"`).stdout).toBe(
      `${leader}\n`,
    )
    expect(
      run(`touch -d '2000-01-01' ${pidfile}; slot_pids ${pidfile}; echo "[$pids]"`).stdout,
    ).toBe('[]\n')
  })
})
