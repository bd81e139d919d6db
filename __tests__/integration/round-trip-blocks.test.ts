/**
 * The one-round-trip phase scripts (issue 15) against a real lab host: sshd, nginx, the built-in
 * process manager and the sample app, no mocks. Each block with its failure paths.
 */
import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RemoteCommandError } from '../../src/common/errors.js'
import { renderUpstream } from '../../src/nginx/render.js'
import { renderEnvFile } from '../../src/remote/commands/files.js'
import { finishHost, parseFinish } from '../../src/remote/commands/finish.js'
import {
  foreignListener,
  HEALTH_FOREIGN,
  HEALTH_NO_CLIENT,
  HEALTH_TIMED_OUT,
  healthLoop,
  healthLoopFailure,
  parseHealthLoop,
} from '../../src/remote/commands/health-loop.js'
import { LOCK_TIMED_OUT } from '../../src/remote/commands/lock.js'
import { parsePrepared, prepareHost } from '../../src/remote/commands/prepare.js'
import { REVISION_KEPT } from '../../src/remote/commands/release.js'
import {
  SHIP_CHECKSUM_MISMATCH,
  incomingArchive,
  shipRelease,
} from '../../src/remote/commands/ship.js'
import { builtinSlots, SLOT_EXITED, type SlotEnv } from '../../src/remote/commands/slot.js'
import { SWITCH_FAILED, parseSwitch, switchUpstream } from '../../src/remote/commands/switch.js'
import { layout } from '../../src/remote/layout.js'
import { cmd } from '../../src/remote/shell.js'
import type { Slot } from '../../src/remote/state.js'
import { RemoteHost } from '../../src/ssh/connection.js'
import { holdCommand } from '../../src/ssh/held-exec.js'
import { parseKnownHosts } from '../../src/ssh/known-hosts.js'
import { dropSshConnections, waitOnHost } from '../../test/faults.js'
import { startLab, type Lab, type LabHost } from '../../test/hosts/index.js'
import { tempDir } from '../../test/tmp.js'

const SERVER = resolve(import.meta.dirname, '../../examples/app/server.js')
const l = layout('/srv/app')
const slots = builtinSlots(l, { app: 'shop', sudo: false, stopTimeoutSeconds: 5 })
const UPSTREAM = '/etc/nginx/conf.d/app.upstream.conf'
const VERIFY_PORT = 8099
/** Exits 0 while the pid runs (a zombie counts as gone: a lab host's init may not reap it). */
const running = (pid: string) =>
  `case "$(cat /proc/${pid}/stat 2>/dev/null)" in "" | *") Z "*) exit 1 ;; esac`
const NGINX = { test: 'nginx -t', reload: 'nginx -s reload', sudo: false }

let lab: Lab
let labHost: LabHost
let host: RemoteHost
let local: string

beforeAll(async () => {
  lab = await startLab({ hosts: 1, name: 'rt-blocks' })
  labHost = lab.hosts[0]!
  host = await RemoteHost.connect(
    { user: 'root', host: labHost.address, port: 22, label: labHost.name },
    {
      privateKey: lab.privateKey,
      passphrase: '',
      knownHosts: parseKnownHosts(lab.knownHosts),
      connectTimeoutMs: 5000,
      keepaliveIntervalMs: 5000,
    },
  )
  local = tempDir('rt-blocks')
})

afterAll(async () => {
  host?.dispose()
  await lab?.stop()
})

const sh = async (script: string) => (await labHost.sh(script)).stdout

/** A release archive of the sample app (plus `extra` files), with its sha256. */
function archive(name: string, extra: Record<string, string> = {}) {
  const dir = join(local, name)
  mkdirSync(dir, { recursive: true })
  copyFileSync(SERVER, join(dir, 'server.js'))
  for (const [file, content] of Object.entries(extra)) writeFileSync(join(dir, file), content)
  const path = join(local, `${name}.tar.gz`)
  execFileSync('tar', ['-czf', path, '-C', dir, '.'])
  return { path, sha256: createHash('sha256').update(readFileSync(path)).digest('hex') }
}

function env(slot: Slot, version: string, port: number): SlotEnv {
  return {
    PORT: String(port),
    SLOT: slot,
    APP_VERSION: version,
    RELEASE_DIR: l.release(version),
    DEPLOY_PATH: l.root,
    RELEASE_NODE: `app_${slot}`,
  }
}

async function ship(version: string, extra: Record<string, string> = {}) {
  const release = archive(version, extra)
  const result = await host.tryExecWithFile(shipRelease(l, version, release.sha256), release.path, {
    step: 'ship',
  })
  expect(result.exitCode, result.stderr).toBe(0)
  return result
}

/** A program that is not the app, answering 200 on `port` of the host; returns its pid. */
const strangerJs = (port: number) =>
  `require("http").createServer((q, s) => s.end("v1")).listen(${port})`
async function strangerOn(port: number): Promise<number> {
  await sh(`cd /tmp && setsid node -e '${strangerJs(port)}' > /dev/null 2>&1 < /dev/null &`)
  await waitOnHost(labHost, `ss -Hltn 'sport = :${port}' | grep -q .`)
  return Number(await sh(`ss -Hltnp 'sport = :${port}' | sed 's/.*pid=\\([0-9]*\\).*/\\1/'`))
}

async function start(slot: Slot, version: string, port: number, command = 'node server.js') {
  await host.exec(slots.start(slot, command, env(slot, version, port)), { step: 'start' })
}

describe('prepare: lock + layout + state in one command', () => {
  const spec = (holder: string, waitSeconds = 5) =>
    prepareHost({
      layout: l,
      waitSeconds,
      holder,
      version: 'v1',
      files: [l.state, UPSTREAM],
      extras: [slots.restarts('blue'), cmd('echo', 'extra')],
    })

  it('holds the lock while its channel is open, and reports layout, files and extras', async () => {
    await sh(
      `mkdir -p ${l.meta} ${l.incoming} ${l.releases}/.v0.tmp.1 ${l.releases}/old && echo '{"x":1}' > ${l.state} && echo partial > ${l.incoming}/half.tar.gz`,
    )
    const held = await holdCommand(host, spec('run 1'), 'prepare', (out) =>
      parsePrepared(out, 2, 2),
    )
    const prepared = held.value
    expect(prepared.existing).toBe('')
    expect(prepared.releases).toEqual(['old'])
    expect(prepared.httpClient).toBe('curl')
    expect(prepared.files).toEqual(['{"x":1}\n', ''])
    expect(prepared.extras).toEqual([
      { stdout: '', exitCode: 0 },
      { stdout: 'extra\n', exitCode: 0 },
    ])
    // What an interrupted run left is gone; the layout is there.
    expect(
      await sh(`ls -A ${l.incoming}; ls -A ${l.releases}; ls -d ${l.logs} ${l.root}/shared`),
    ).toBe(`old\n${l.logs}\n${l.root}/shared\n`)
    expect(await sh(`cat ${l.lock}`)).toBe('run 1\n')
    // A second run waits, then gives up with the holder named.
    const second = await holdCommand(host, spec('run 2', 1), 'prepare', (out) =>
      parsePrepared(out, 2, 2),
    ).catch((error: unknown) => error)
    expect(second).toBeInstanceOf(RemoteCommandError)
    expect((second as RemoteCommandError).exitCode).toBe(LOCK_TIMED_OUT)
    expect((second as RemoteCommandError).stderr).toContain('held by: run 1')
    await held.release()
    expect((await labHost.sh(`flock -n ${l.lock} true`, { allowFail: true })).exitCode).toBe(0)
  })

  it('frees the lock when the connection drops', async () => {
    const other = await RemoteHost.connect(
      { user: 'root', host: labHost.address, port: 22, label: labHost.name },
      {
        privateKey: lab.privateKey,
        passphrase: '',
        knownHosts: parseKnownHosts(lab.knownHosts),
        connectTimeoutMs: 5000,
        keepaliveIntervalMs: 5000,
      },
    )
    await holdCommand(other, spec('run 3'), 'prepare', (out) => parsePrepared(out, 2, 2))
    expect((await labHost.sh(`flock -n ${l.lock} true`, { allowFail: true })).exitCode).not.toBe(0)
    other.dispose()
    const free = await holdCommand(host, spec('run 4', 5), 'prepare', (out) =>
      parsePrepared(out, 2, 2),
    )
    await free.release()
  })
})

describe('ship: the archive streamed into one command', () => {
  it('writes, checks and extracts the release atomically', async () => {
    await ship('v1')
    // REVISION: the version, written at install beside the checksum (not in the archive).
    expect(await sh(`ls -A ${l.release('v1')}; ls -A ${l.incoming}`)).toBe(
      '.release-sha256\nREVISION\nserver.js\n',
    )
    expect(await sh(`cat ${l.release('v1')}/REVISION`)).toBe('v1\n')
    expect((await ship('v1-rev', { REVISION: 'built-here\n' })).stdout).toContain(REVISION_KEPT)
    expect(await sh(`cat ${l.release('v1-rev')}/REVISION`)).toBe('built-here\n')
    await sh(`rm -rf ${l.release('v1-rev')}`)
  })

  it('writes shared/.env from the rest of stdin in the same command', async () => {
    const release = archive('v1-env')
    const content = renderEnvFile({ SECRET: `it's "secret" $(id)` })
    const result = await host.tryExecWithFile(
      shipRelease(l, 'v1-env', release.sha256, '', {
        archiveBytes: statSync(release.path).size,
        keep: 5,
        token: 'run-1',
      }),
      release.path,
      { step: 'ship', stdin: content },
    )
    expect(result.exitCode, result.stderr).toBe(0)
    expect(
      await sh(`ls -A ${l.release('v1-env')}; cat ${l.sharedEnv}; stat -c %a ${l.sharedEnv}`),
    ).toBe(`.release-sha256\nREVISION\nserver.js\n${content}600\n`)
    expect(result.stderr + result.stdout).not.toContain('secret')
    // There was no file before: the undo record says so.
    expect(await sh(`cat ${l.envUndo}`)).toBe('run-1 none -\n')
    await sh(`rm -rf ${l.release('v1-env')} ${l.sharedEnv} ${l.envUndo}`)
  })

  it('writes no shared/.env when the sha256 does not match', async () => {
    const release = archive('v8')
    const result = await host.tryExecWithFile(
      shipRelease(l, 'v8', 'e'.repeat(64), '', {
        archiveBytes: statSync(release.path).size,
        keep: 5,
        token: 'run-1',
      }),
      release.path,
      { step: 'ship', stdin: "A='1'\n" },
    )
    expect(result.exitCode).toBe(SHIP_CHECKSUM_MISMATCH)
    expect(await sh(`ls -A ${l.root}/shared ${l.incoming}; ls ${l.releases}`)).not.toMatch(
      /\.env|v8/,
    )
  })

  it('extracts nothing when the sha256 does not match', async () => {
    const release = archive('v9')
    const result = await host.tryExecWithFile(shipRelease(l, 'v9', 'f'.repeat(64)), release.path, {
      step: 'ship',
    })
    expect(result.exitCode).toBe(SHIP_CHECKSUM_MISMATCH)
    expect(result.stderr).toContain(`expected ${'f'.repeat(64)}, host has ${release.sha256}`)
    expect(await sh(`ls -A ${l.releases}; ls -A ${l.incoming}`)).toBe('old\nv1\n')
  })
})

describe('health: polled by a loop on the host, reported once', () => {
  const loop = (port: number, slot: Slot, over: Partial<Parameters<typeof healthLoop>[0]> = {}) =>
    healthLoop({
      port,
      path: '/health',
      versionPath: '/version',
      version: 'v1',
      timeoutMs: 5000,
      intervalMs: 200,
      alive: slots.checkAlive(slot, true),
      members: slots.members(slot),
      ...over,
    })

  it.each(['curl', 'wget'] as const)(
    'reports healthy after the app booted (%s)',
    async (client) => {
      if (!(await sh(`ls ${l.releases}`)).includes('v1-boot')) {
        await ship('v1-boot', { 'behaviour.json': '{"bootDelayMs": 500}' })
      }
      await start('blue', 'v1-boot', 3101)
      const result = await host.tryExec(loop(3101, 'blue', { client, version: 'v1-boot' }), {
        step: 'health',
      })
      expect(result.exitCode, result.stdout + result.stderr).toBe(0)
      const report = parseHealthLoop(result.stdout)
      expect(report.outcome).toBe('healthy')
      expect(report.attempts).toBeGreaterThan(1)
      expect(report.last).toMatch(/^GET \/health: /)
      await host.exec(slots.stop('blue', '', env('blue', 'v1-boot', 3101)), { step: 'stop' })
    },
  )

  it('reports a timeout with the last answer', async () => {
    await start('blue', 'v1', 3101)
    const result = await host.tryExec(
      loop(3101, 'blue', { path: '/nope', timeoutMs: 1000, client: 'curl' }),
      { step: 'health' },
    )
    expect(result.exitCode).toBe(HEALTH_TIMED_OUT)
    const report = parseHealthLoop(result.stdout)
    expect(report).toMatchObject({ outcome: 'timeout', last: 'GET /nope answered 404' })
    expect(
      healthLoopFailure(report, { slot: 'blue', port: 3101, timeoutMs: 1000, logName: '' }, 4, ''),
    ).toBe(
      `blue slot (port 3101) not healthy within health-timeout (1s); last check: GET /nope answered 404`,
    )
    // A version that is not the one asked for is not healthy either.
    const wrong = await host.tryExec(
      loop(3101, 'blue', { version: 'v7', timeoutMs: 300, client: 'curl' }),
      { step: 'health' },
    )
    expect(parseHealthLoop(wrong.stdout).last).toMatch(
      /^GET \/version answered 200 without 'v7' in its body \(".*v1.*"\)$/,
    )
    await host.exec(slots.stop('blue', '', env('blue', 'v1', 3101)), { step: 'stop' })
  })

  it('reports a slot that crashed while booting, with its log tail', async () => {
    await start('green', 'v1', 3102, 'echo "fatal: crashing at boot" >&2; exit 1')
    const result = await host.tryExec(loop(3102, 'green', { client: 'curl' }), {
      step: 'health',
    })
    expect(result.exitCode).toBe(SLOT_EXITED)
    const report = parseHealthLoop(result.stdout)
    expect(report.outcome).toBe('exited')
    expect(report.logTail).toContain('fatal: crashing at boot')
    await host.exec(slots.stop('green', '', env('green', 'v1', 3102)), { step: 'stop' })
  })

  it('an answer from a process that is not the slot is never healthy: it is named at once', async () => {
    // The slot runs (nothing of it listens); a program outside it answers 200 on its port.
    await start('blue', 'v1', 3101, 'exec sleep 60')
    const stranger = await strangerOn(3101)
    try {
      const result = await host.tryExec(loop(3101, 'blue', { versionPath: '', client: 'curl' }), {
        step: 'health',
      })
      expect(result.exitCode).toBe(HEALTH_FOREIGN)
      const report = parseHealthLoop(result.stdout)
      expect(report).toMatchObject({ outcome: 'foreign', attempts: 1 })
      expect(report.last).toBe(
        `port 3101 is held by pid ${stranger} (node -e ${strangerJs(3101)}), which is not a process of the slot`,
      )
      expect(
        healthLoopFailure(report, { slot: 'blue', port: 3101, timeoutMs: 0, logName: '' }, 7, ''),
      ).toBe(foreignListener('blue', report.last))
    } finally {
      await sh(`kill ${stranger}`)
      await host.exec(slots.stop('blue', '', env('blue', 'v1', 3101)), { step: 'stop' })
    }
  })

  it('says so when the host has no HTTP client', async () => {
    const result = await host.tryExec(loop(3101, 'blue', { client: 'none' }), { step: 'health' })
    expect(result.exitCode).toBe(HEALTH_NO_CLIENT)
    expect(parseHealthLoop(result.stdout).outcome).toBe('no-client')
  })
})

describe('switch: install + nginx -t + reload + verify + record in one', () => {
  const upstream = (port: number, extra = '') =>
    renderUpstream({
      name: 'app',
      servers: [{ port }],
      liveSlot: port === 3101 ? 'blue' : 'green',
      verifyPort: VERIFY_PORT,
      canaryLogFormat: false,
    }) + extra
  const spec = (port: number, over: Partial<Parameters<typeof switchUpstream>[0]> = {}) =>
    switchUpstream({
      stage: 'all',
      file: UPSTREAM,
      backup: l.upstreamBackup,
      backupMode: 'take',
      nginx: NGINX,
      verify: {
        port: VERIFY_PORT,
        path: '/health',
        expected: [`127.0.0.1:${port}`],
        timeoutMs: 2000,
        header: 'x-deploy-upstream',
      },
      client: 'curl',
      ...over,
    })
  const before =
    '# placeholder: the file from before the run\nupstream app { server 127.0.0.1:1 down; }\n'

  beforeAll(async () => {
    await start('blue', 'v1', 3101)
    const healthy = healthLoop({
      port: 3101,
      path: '/health',
      versionPath: '',
      version: 'v1',
      timeoutMs: 5000,
      intervalMs: 200,
      alive: slots.checkAlive('blue', true),
      members: slots.members('blue'),
    })
    await host.exec(healthy, { step: 'health' })
    writeFileSync(join(local, 'before'), before)
  })
  afterAll(async () => {
    await host.exec(slots.stop('blue', '', env('blue', 'v1', 3101)), { step: 'stop' })
  })

  it('switches, verifies through nginx and records', async () => {
    await sh(`printf '%s' '${before}' > ${UPSTREAM} && nginx -s reload`)
    const state = '{"liveSlot":"blue"}\n'
    const result = await host.tryExec(
      spec(3101, {
        recheck: {
          alive: slots.checkAlive('blue'),
          members: slots.members('blue'),
          port: 3101,
          path: '/health',
          versionPath: '/version',
          version: 'v1',
        },
        record: { layout: l, version: 'v1', stateJson: state },
        content: upstream(3101),
      }),
      { step: 'switch' },
    )
    expect(result.exitCode, result.stdout + result.stderr).toBe(0)
    expect(parseSwitch(result.stdout)).toMatchObject({
      ok: true,
      steps: ['recheck', 'install', 'test', 'reload', 'verify', 'record'],
    })
    expect(await sh(`cat ${UPSTREAM}`)).toBe(upstream(3101))
    expect(await sh(`cat ${l.upstreamBackup}`)).toBe(before)
    expect(await sh(`cat ${l.state}; cat ${l.state}.bak; readlink ${l.current}`)).toBe(
      `${state}${state}releases/v1\n`,
    )
  })

  it('puts the previous file back byte for byte when nginx -t fails', async () => {
    await sh(
      `printf '%s' '${before}' > ${UPSTREAM} && nginx -s reload && rm -f ${l.upstreamBackup}`,
    )
    const result = await host.tryExec(
      spec(3101, { content: upstream(3101, 'not_a_directive on;\n') }),
      { step: 'switch' },
    )
    expect(result.exitCode).toBe(SWITCH_FAILED)
    expect(parseSwitch(result.stdout)).toMatchObject({
      ok: false,
      failedStep: 'test',
      restored: true,
      reloaded: false,
    })
    expect(result.stderr).toContain('unknown directive "not_a_directive"')
    expect(readFileSync(join(labHost.dir, 'etc/nginx/conf.d/app.upstream.conf'), 'utf8')).toBe(
      before,
    )
  })

  it('puts the file back and reloads when the verify fails', async () => {
    await sh(`printf '%s' '${before}' > ${UPSTREAM} && nginx -s reload`)
    // Until the old workers let go of the verify port, a reload that listens on it again waits
    // in bind() (nginx retries every 500 ms), longer than this verify's timeout.
    await waitOnHost(labHost, `! curl -s -o /dev/null http://127.0.0.1:${VERIFY_PORT}/`)
    // The upstream names 3101, the runner expects 3102: nginx never answers from there.
    const result = await host.tryExec(
      spec(3102, {
        verify: {
          port: VERIFY_PORT,
          path: '/health',
          expected: ['127.0.0.1:3102'],
          timeoutMs: 500,
          header: 'x-deploy-upstream',
        },
        content: upstream(3101),
      }),
      { step: 'switch' },
    )
    expect(result.exitCode).toBe(SWITCH_FAILED)
    expect(parseSwitch(result.stdout)).toMatchObject({
      failedStep: 'verify',
      restored: true,
      reloaded: true,
    })
    expect(result.stderr).toContain(
      'nginx did not send requests where expected within 0s (nginx answered 200 from 127.0.0.1:3101, expected 127.0.0.1:3102)',
    )
    expect(await sh(`cat ${UPSTREAM}`)).toBe(before)
  })

  it('without an HTTP client: switches, leaves verify and record to the runner', async () => {
    await sh(`printf '%s' '${before}' > ${UPSTREAM} && nginx -s reload && echo old > ${l.state}`)
    const result = await host.tryExec(
      spec(3101, {
        client: 'none',
        content: upstream(3101),
        record: { layout: l, version: 'v1', stateJson: '{}\n' },
      }),
      { step: 'switch' },
    )
    expect(result.exitCode, result.stdout + result.stderr).toBe(0)
    expect(parseSwitch(result.stdout)).toMatchObject({
      ok: true,
      steps: ['install', 'test', 'reload'],
      verifySkipped: true,
    })
    expect(result.stdout).toContain('SKIPPED record')
    expect(await sh(`cat ${UPSTREAM}; cat ${l.state}`)).toBe(`${upstream(3101)}old\n`)
  })

  it('a recheck without an HTTP client touches nothing and says so', async () => {
    await sh(`printf '%s' '${before}' > ${UPSTREAM}`)
    const result = await host.tryExec(
      spec(3101, {
        client: 'none',
        recheck: {
          alive: slots.checkAlive('blue'),
          members: slots.members('blue'),
          port: 3101,
          path: '/health',
          versionPath: '',
          version: 'v1',
        },
        content: upstream(3101),
      }),
      { step: 'switch' },
    )
    expect(result.exitCode).toBe(SWITCH_FAILED)
    expect(parseSwitch(result.stdout)).toMatchObject({ noClient: true, steps: [], client: 'none' })
    expect(await sh(`cat ${UPSTREAM}`)).toBe(before)
  })

  it('refuses at the recheck when the slot answers another version, before touching nginx', async () => {
    await sh(`printf '%s' '${before}' > ${UPSTREAM}`)
    const result = await host.tryExec(
      spec(3101, {
        recheck: {
          alive: slots.checkAlive('blue'),
          members: slots.members('blue'),
          port: 3101,
          path: '/health',
          versionPath: '/version',
          version: 'v9',
        },
        content: upstream(3101),
      }),
      { step: 'switch' },
    )
    expect(result.exitCode).toBe(SWITCH_FAILED)
    expect(parseSwitch(result.stdout)).toMatchObject({ failedStep: 'recheck', restored: false })
    expect(result.stderr.trim()).toMatch(
      /^GET \/version answered 200 without 'v9' in its body \(".*v1.*"\)$/,
    )
    expect(await sh(`cat ${UPSTREAM}`)).toBe(before)
  })

  it('refuses at the recheck when a process outside the slot listens on its port too', async () => {
    await sh(`printf '%s' '${before}' > ${UPSTREAM}`)
    // The slot answers its health check, but another program holds its port as well (it
    // listens on 127.0.0.2, where the app's server does not).
    const other = await sh(
      `cd /tmp && setsid node -e 'require("http").createServer().listen(3101, "127.0.0.2")' > /dev/null 2>&1 < /dev/null & echo $!`,
    )
    await waitOnHost(labHost, `ss -Hltn 'sport = :3101' | grep -q 127.0.0.2`)
    try {
      const result = await host.tryExec(
        spec(3101, {
          recheck: {
            alive: slots.checkAlive('blue'),
            members: slots.members('blue'),
            port: 3101,
            path: '/health',
            versionPath: '/version',
            version: 'v1',
          },
          content: upstream(3101),
        }),
        { step: 'switch' },
      )
      expect(result.exitCode).toBe(SWITCH_FAILED)
      expect(parseSwitch(result.stdout)).toMatchObject({ failedStep: 'recheck', restored: false })
      expect(result.stderr.trim()).toMatch(
        /^port 3101 is held by pid \d+ \(node -e .*127\.0\.0\.2.*\), which is not a process of the slot$/,
      )
      expect(await sh(`cat ${UPSTREAM}`)).toBe(before)
    } finally {
      await sh(`kill ${other.trim()}`)
    }
  })

  it('refuses at the recheck when the slot is gone, before touching nginx', async () => {
    await sh(`printf '%s' '${before}' > ${UPSTREAM}`)
    const result = await host.tryExec(
      spec(3102, {
        recheck: {
          alive: slots.checkAlive('green', true),
          members: slots.members('green'),
          port: 3102,
          path: '/health',
          versionPath: '',
          version: 'v2',
        },
        content: upstream(3102),
      }),
      { step: 'switch' },
    )
    expect(result.exitCode).toBe(SWITCH_FAILED)
    expect(parseSwitch(result.stdout)).toMatchObject({ failedStep: 'recheck', restored: false })
    expect(await sh(`cat ${UPSTREAM}`)).toBe(before)
  })
})

describe('finish: drain + stop + state + prune in one', () => {
  it('stops the old slot after it drained, writes the state, prunes', async () => {
    await start('green', 'v1', 3102)
    const pid = (await sh(`cat ${l.pidfile('green')}`)).trim()
    const state = '{"final":true}\n'
    const result = await host.tryExec(
      finishHost({
        layout: l,
        old: {
          port: 3102,
          drainTimeoutMs: 2000,
          quietChecks: 2,
          stop: slots.stop('green', '', env('green', 'v1', 3102)),
        },
        stateJson: state,
        prune: ['old'],
      }),
      { step: 'finish' },
    )
    expect(result.exitCode, result.stdout + result.stderr).toBe(0)
    expect(parseFinish(result.stdout)).toMatchObject({
      ok: true,
      drain: 'idle',
      steps: ['stop', 'state', 'prune'],
    })
    expect((await labHost.sh(running(pid), { allowFail: true })).exitCode).not.toBe(0)
    expect(await sh(`cat ${l.state} ${l.state}.bak; ls ${l.releases}`)).toBe(
      `${state}${state}v1\nv1-boot\n`,
    )
  })

  it('writes no state when the stop fails', async () => {
    await sh(`echo before > ${l.state}`)
    const result = await host.tryExec(
      finishHost({
        layout: l,
        old: { port: 3102, drainTimeoutMs: 0, quietChecks: 1, stop: slots.checkAlive('green') },
        stateJson: 'after\n',
        prune: ['v1'],
      }),
      { step: 'finish' },
    )
    expect(parseFinish(result.stdout)).toMatchObject({
      ok: false,
      drain: 'skipped',
      failedStep: 'stop',
    })
    expect(await sh(`cat ${l.state}; ls ${l.releases}`)).toBe('before\nv1\nv1-boot\n')
  })
})

// Last: it drops every SSH connection to the host, the shared one too.
describe('ship when the connection drops mid-stream', () => {
  it('returns at once, cut off, and nothing is extracted', { timeout: 60_000 }, async () => {
    const path = join(local, 'big.tar.gz')
    writeFileSync(path, randomBytes(64 * 1024 * 1024))
    const sha256 = createHash('sha256').update(readFileSync(path)).digest('hex')
    const shipping = host.tryExecWithFile(shipRelease(l, 'v-big', sha256), path, { step: 'ship' })
    await waitOnHost(labHost, `[ -s ${incomingArchive(l, 'v-big', sha256)} ]`)
    expect(await dropSshConnections(labHost)).toBeGreaterThan(0)
    const result = await shipping
    expect(result.exitCode).toBeNull()
    expect(await sh(`ls ${l.releases}`)).not.toContain('v-big')
    // The partial archive goes with the checksum failure, or with the next prepare.
    expect(await sh(`ls -A ${l.releases} | grep -c tmp || true`)).toBe('0\n')
  })
})
