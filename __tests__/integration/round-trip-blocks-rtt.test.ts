/**
 * How many sequential round trips each phase block costs, measured in the latency lab (issue 15):
 * each block's time at RTT 0 and 150 ms through the delaying proxy, round trips = difference /
 * 150 ms (the CPU cost of the block cancels). The SFTP upload + extract it replaces is measured
 * the same way, for the "before". Prints the table; asserts each block stays at about one exec (2, 3 with stdin).
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, mkdirSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { renderUpstream } from '../../src/nginx/render.js'
import { finishHost } from '../../src/remote/commands/finish.js'
import { healthLoop } from '../../src/remote/commands/health-loop.js'
import { parsePrepared, prepareHost } from '../../src/remote/commands/prepare.js'
import { shipRelease } from '../../src/remote/commands/ship.js'
import { builtinSlots, type SlotEnv } from '../../src/remote/commands/slot.js'
import { switchUpstream } from '../../src/remote/commands/switch.js'
import { layout } from '../../src/remote/layout.js'
import { RemoteHost } from '../../src/ssh/connection.js'
import { holdCommand } from '../../src/ssh/held-exec.js'
import { parseKnownHosts } from '../../src/ssh/known-hosts.js'
import { startLab, type Lab } from '../../test/hosts/index.js'
import { tempDir } from '../../test/tmp.js'

const SERVER = resolve(import.meta.dirname, '../../examples/app/server.js')
const RTT = 150
const REPEATS = 3
const l = layout('/srv/app')
const slots = builtinSlots(l, { app: 'shop', sudo: false, stopTimeoutSeconds: 5 })
const UPSTREAM = '/etc/nginx/conf.d/app.upstream.conf'
const env = (version: string): SlotEnv => ({
  PORT: '3101',
  SLOT: 'blue',
  APP_VERSION: version,
  RELEASE_DIR: l.release(version),
  DEPLOY_PATH: l.root,
  RELEASE_NODE: 'app_blue',
})

let lab: Lab
let host: RemoteHost

beforeAll(async () => {
  lab = await startLab({ hosts: 1, name: 'rt-blocks-rtt', rttMs: 0 })
  const h = lab.hosts[0]!
  host = await RemoteHost.connect(
    { user: 'root', host: h.ssh.host, port: h.ssh.port, label: h.name },
    {
      privateKey: lab.privateKey,
      passphrase: '',
      knownHosts: parseKnownHosts(lab.knownHosts),
      connectTimeoutMs: 10_000,
      keepaliveIntervalMs: 10_000,
    },
  )
})

afterAll(async () => {
  host?.dispose()
  await lab?.stop()
})

/** `work` may return what to do after the timed part (the prepare block: free the lock). */
async function median(work: () => Promise<void | (() => Promise<void>)>): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < REPEATS; i++) {
    const started = performance.now()
    const after = await work()
    times.push(performance.now() - started)
    if (after) await after()
  }
  return times.sort((a, b) => a - b)[Math.floor(REPEATS / 2)]!
}

it(
  'costs about one exec (2 round trips, 3 with stdin) per phase block',
  { timeout: 240_000 },
  async () => {
    const dir = tempDir('rt-blocks-rtt')
    mkdirSync(join(dir, 'app'))
    copyFileSync(SERVER, join(dir, 'app/server.js'))
    const path = join(dir, 'release.tar.gz')
    execFileSync('tar', ['-czf', path, '-C', join(dir, 'app'), '.'])
    const sha256 = createHash('sha256').update(readFileSync(path)).digest('hex')
    let n = 0
    const version = () => `v${n}`

    const blocks: Record<string, () => Promise<void | (() => Promise<void>)>> = {
      prepare: async () => {
        const held = await holdCommand(
          host,
          prepareHost({
            layout: l,
            waitSeconds: 5,
            holder: 'bench',
            version: 'v1',
            files: [l.state, UPSTREAM],
            extras: [slots.restarts('blue')],
          }),
          'prepare',
          (out) => parsePrepared(out, 2, 1),
        )
        // The lock is freed at the end of the run, after everything else (another exchange).
        return () => held.release()
      },
      ship: async () => {
        n++
        const result = await host.tryExecWithFile(shipRelease(l, version(), sha256), path, {
          step: 'ship',
        })
        expect(result.exitCode, result.stderr).toBe(0)
      },
      'ship + shared/.env': async () => {
        n++
        const result = await host.tryExecWithFile(
          shipRelease(l, version(), sha256, '', {
            archiveBytes: statSync(path).size,
            keep: 5,
            token: 'rtt',
          }),
          path,
          { step: 'ship', stdin: "A='1'\n" },
        )
        expect(result.exitCode, result.stderr).toBe(0)
      },
      health: async () => {
        await host.exec(
          healthLoop({
            port: 3101,
            path: '/health',
            versionPath: '',
            version: 'v1',
            timeoutMs: 10_000,
            intervalMs: 200,
            alive: slots.checkAlive('blue', true),
            members: slots.members('blue'),
          }),
          { step: 'health' },
        )
      },
      switch: async () => {
        const result = await host.tryExec(
          switchUpstream({
            stage: 'all',
            file: UPSTREAM,
            backup: l.upstreamBackup,
            backupMode: 'take',
            nginx: { test: 'nginx -t', reload: 'nginx -s reload', sudo: false },
            recheck: {
              alive: slots.checkAlive('blue'),
              members: slots.members('blue'),
              port: 3101,
              path: '/health',
              versionPath: '',
              version: 'v1',
            },
            verify: {
              port: 8099,
              path: '/health',
              expected: ['127.0.0.1:3101'],
              timeoutMs: 5000,
              header: 'x-deploy-upstream',
            },
            record: { layout: l, version: 'v1', stateJson: '{}\n' },
            content: renderUpstream({
              name: 'app',
              servers: [{ port: 3101 }],
              liveSlot: 'blue',
              verifyPort: 8099,
              canaryLogFormat: false,
            }),
          }),
          { step: 'switch' },
        )
        expect(result.exitCode, result.stdout + result.stderr).toBe(0)
      },
      finish: async () => {
        // The green slot is not running: drain and stop do their checks, nothing waits on them.
        await host.exec(
          finishHost({
            layout: l,
            old: {
              port: 3102,
              drainTimeoutMs: 1000,
              quietChecks: 1,
              stop: slots.stop('green', '', { ...env('v1'), SLOT: 'green', PORT: '3102' }),
            },
            stateJson: '{}\n',
            prune: [version()],
          }),
          { step: 'finish' },
        )
      },
    }

    await (
      await blocks.prepare!()
    )?.()
    await blocks.ship!()
    await host.exec(slots.start('blue', 'exec node server.js', env(version())), { step: 'start' })
    await blocks.health!()
    const rows: string[] = []
    const counts: Record<string, number> = {}
    for (const [name, work] of Object.entries(blocks)) {
      lab.setRtt(0)
      const fast = await median(work)
      lab.setRtt(RTT)
      const slow = await median(work)
      counts[name] = (slow - fast) / RTT
      rows.push(
        `| ${name} | ${(fast / 1000).toFixed(2)} s | ${(slow / 1000).toFixed(2)} s | ${counts[name].toFixed(1)} |`,
      )
    }
    lab.setRtt(0)
    await host.exec(slots.stop('blue', '', env('v1')), { step: 'stop' })
    console.log(
      [
        `| block, median of ${REPEATS} | RTT 0 | RTT ${RTT} ms | round trips |`,
        '| --- | --: | --: | --: |',
        ...rows,
      ].join('\n'),
    )
    // One exec is 2 round trips (channel open, exec request; its answer comes with the output);
    // a command that reads stdin waits for data sent after the exec was accepted: one more.
    const limits = {
      prepare: 2.5,
      ship: 3.5,
      'ship + shared/.env': 3.5,
      health: 2.5,
      switch: 2.5,
      finish: 2.5,
    }
    for (const [name, limit] of Object.entries(limits)) {
      expect(counts[name], name).toBeLessThanOrEqual(limit)
    }
  },
)
