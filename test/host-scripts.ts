/**
 * Every script the action runs on a host, built by its builder with sample arguments: what
 * `npm run lint:shell` hands to shellcheck as POSIX sh (the builders' own text, not the data they
 * pass as arguments). The unit test `host-scripts.test.ts` checks that each `script(` call site
 * of src/remote has a script here, so a new one cannot be left out.
 */
import { bridgeAssets, pruneAssetLinks, unlinkAssets } from '../src/remote/commands/assets.js'
import { accessLogSince, canaryEvidenceProbe } from '../src/remote/commands/canary.js'
import { waitForDrain } from '../src/remote/commands/drain.js'
import {
  restoreEnvFile,
  switchCurrent,
  writeEnvFile,
  writeFileAtomically,
} from '../src/remote/commands/files.js'
import { finishHost } from '../src/remote/commands/finish.js'
import { healthLoop, startThenHealth } from '../src/remote/commands/health-loop.js'
import { holdLock } from '../src/remote/commands/lock.js'
import { checkUpstreamWritable, restoreUpstream } from '../src/remote/commands/nginx.js'
import { prepareHost } from '../src/remote/commands/prepare.js'
import { detectProcessManager } from '../src/remote/commands/process-manager.js'
import { builtinMembers, checkPortOwner } from '../src/remote/commands/processes.js'
import { installRelease } from '../src/remote/commands/release.js'
import { shipRelease } from '../src/remote/commands/ship.js'
import {
  builtinSlots,
  renderBootScript,
  renderSuperviseScript,
  runInRelease,
  type SlotEnv,
  type WorkerEnv,
} from '../src/remote/commands/slot.js'
import { switchUpstream } from '../src/remote/commands/switch.js'
import { startWorkers, stopWorkers } from '../src/remote/commands/workers.js'
import { renderRunScript, systemdSlots } from '../src/remote/commands/systemd.js'
import { layout } from '../src/remote/layout.js'
import { probeCommand } from '../src/remote/probe.js'
import type { Shell } from '../src/remote/shell.js'

export interface HostScript {
  /** The file of src/remote that builds it. */
  file: string
  name: string
  /** The script as sh runs it: the body of `sh -c '<body>'`, or a file the action writes. */
  body: string
}

const l = layout('/srv/shop')
const env: SlotEnv = {
  PORT: '3002',
  SLOT: 'green',
  APP_VERSION: 'v2',
  RELEASE_DIR: '/srv/shop/releases/v2',
  DEPLOY_PATH: '/srv/shop',
  RELEASE_NODE: 'shop_green',
}
const workerEnv: WorkerEnv = {
  WORKER: 'jobs',
  APP_VERSION: 'v2',
  RELEASE_DIR: '/srv/shop/releases/v2',
  DEPLOY_PATH: '/srv/shop',
  RELEASE_NODE: 'shop_jobs_green',
}
const options = { app: 'shop', sudo: false, stopTimeoutSeconds: 10 }
const builtin = builtinSlots(l, options)
const systemd = systemdSlots(l, { ...options, user: 'deploy', stopCommand: 'kill -QUIT 1' })
const nginx = { test: 'nginx -t', reload: 'nginx -s reload', sudo: false }

/**
 * The bodies of every `sh -c '<body>'` in a command line (a script built by `script()`, or one
 * that the combinators `and` and friends joined), in order.
 */
export function scriptBodies(text: string): string[] {
  const bodies: string[] = []
  const start = "sh -c '"
  for (let at = text.indexOf(start); at >= 0; at = text.indexOf(start, at)) {
    let body = ''
    let i = at + start.length
    while (i < text.length) {
      if (text.startsWith(`'\\''`, i)) {
        body += "'"
        i += 4
      } else if (text[i] === "'") {
        break
      } else {
        body += text[i]
        i += 1
      }
    }
    bodies.push(body)
    at = i
  }
  return bodies
}

function built(file: string, name: string, shell: Shell): HostScript {
  const [body] = scriptBodies(shell.text)
  if (body === undefined) throw new Error(`${file} ${name}: not an sh -c script`)
  return { file, name, body }
}

const rendered = (file: string, name: string, body: string): HostScript => ({ file, name, body })

export function hostScripts(): HostScript[] {
  const health = healthLoop({
    port: 3002,
    path: '/health',
    versionPath: '/version',
    version: 'v2',
    timeoutMs: 30_000,
    intervalMs: 1000,
    alive: builtin.checkAlive('green', true),
    members: builtin.members('green'),
  })
  return [
    built(
      'assets.ts',
      'bridgeAssets',
      bridgeAssets({
        layout: l,
        target: 'v3',
        live: 'v2',
        sources: ['v2', 'v1'],
        folders: ['public/assets', '.next/static'],
      }),
    ),
    built('assets.ts', 'unlinkAssets', unlinkAssets(l, 'v2', 'v3')),
    built('assets.ts', 'pruneAssetLinks', pruneAssetLinks(l, ['v3', 'v2'])),
    built('canary.ts', 'accessLogSince', accessLogSince('/var/log/nginx/shop.log', 10)),
    built(
      'canary.ts',
      'canaryEvidenceProbe',
      canaryEvidenceProbe('/var/log/nginx/shop.log', 'shop', [3001, 3002], '/etc/nginx'),
    ),
    built('drain.ts', 'waitForDrain', waitForDrain(3001, 10_000)),
    built('files.ts', 'writeFileAtomically', writeFileAtomically('/srv/shop/.deploy/x')),
    built('files.ts', 'switchCurrent', switchCurrent(l, 'v2')),
    built('files.ts', 'writeEnvFile', writeEnvFile(l, 'v2', 5, 'run-token')),
    built('files.ts', 'restoreEnvFile', restoreEnvFile(l, 'run-token')),
    built(
      'finish.ts',
      'finishHost',
      finishHost({
        layout: l,
        old: {
          port: 3001,
          drainTimeoutMs: 10_000,
          quietChecks: 4,
          stop: builtin.stop('blue', '', env),
        },
        stateJson: '{}\n',
        prune: ['v0'],
      }),
    ),
    built('health-loop.ts', 'healthLoop', health),
    built(
      'health-loop.ts',
      'startThenHealth',
      startThenHealth(builtin.start('green', 'node server.js', env), health),
    ),
    built('lock.ts', 'holdLock', holdLock(l, 300, 'run 1', l.state)),
    built(
      'nginx.ts',
      'restoreUpstream',
      restoreUpstream('/etc/nginx/conf.d/shop.conf', l.upstreamBackup),
    ),
    built(
      'nginx.ts',
      'checkUpstreamWritable',
      checkUpstreamWritable('/etc/nginx/conf.d/shop.conf', true),
    ),
    built(
      'prepare.ts',
      'prepareHost',
      prepareHost({
        layout: l,
        waitSeconds: 300,
        holder: 'run 1',
        version: 'v2',
        files: [l.state],
        extras: [builtin.restarts('blue')],
      }),
    ),
    built('process-manager.ts', 'detectProcessManager', detectProcessManager('shop', true)),
    built(
      'processes.ts',
      'checkPortOwner',
      checkPortOwner(builtinMembers(l.pidfile('green')), 3002),
    ),
    built(
      'release.ts',
      'installRelease',
      installRelease(l, 'v2', '/srv/shop/.deploy/incoming/v2.tar.gz', 'b'.repeat(64)),
    ),
    ...scriptBodies(
      shipRelease(l, 'v2', 'b'.repeat(64), '', { archiveBytes: 10, keep: 5, token: 'run-token' })
        .text,
    ).map((body, i) => rendered('ship.ts', `shipRelease ${i}`, body)),
    built('slot.ts', 'builtin start', builtin.start('green', 'node server.js', env)),
    built('slot.ts', 'builtin stop', builtin.stop('green', 'kill -QUIT "$PORT"', env)),
    built('slot.ts', 'builtin reload', builtin.reload('green', 'kill -HUP "$SLOT_PID"', env)),
    built('slot.ts', 'builtin checkAlive', builtin.checkAlive('green', true)),
    built('slot.ts', 'builtin restarts', builtin.restarts('green')),
    built('slot.ts', 'runInRelease', runInRelease(l, 'npm run migrate', env)),
    rendered(
      'slot.ts',
      'supervise script',
      renderSuperviseScript(l, 'green', 'node server.js', env, 10),
    ),
    rendered('slot.ts', 'boot script', renderBootScript(l)),
    built(
      'switch.ts',
      'switchUpstream',
      switchUpstream({
        stage: 'all',
        file: '/etc/nginx/conf.d/shop.upstream.conf',
        backup: l.upstreamBackup,
        backupMode: 'take',
        nginx,
        recheck: {
          alive: builtin.checkAlive('green'),
          members: builtin.members('green'),
          port: 3002,
          path: '/health',
          versionPath: '/version',
          version: 'v2',
        },
        verify: {
          port: 8099,
          path: '/health',
          expected: ['127.0.0.1:3002'],
          timeoutMs: 0,
          header: 'x-deploy-upstream',
        },
        record: { layout: l, version: 'v2', stateJson: '{}\n' },
        content: 'upstream shop { server 127.0.0.1:3002; }\n',
      }),
    ),
    built('systemd.ts', 'systemd start', systemd.start('green', 'node server.js', env)),
    built('systemd.ts', 'systemd stop', systemd.stop('green', '', env)),
    built('systemd.ts', 'systemd checkAlive', systemd.checkAlive('green', true)),
    built('systemd.ts', 'systemd restarts', systemd.restarts('green')),
    rendered(
      'systemd.ts',
      'run script',
      renderRunScript(l, 'shop', 'green', 'node server.js', 'kill -QUIT 1', env),
    ),
    built(
      'workers.ts',
      'startWorkers',
      startWorkers([
        {
          id: 'worker-jobs-green',
          start: builtin.start('worker-jobs-green', 'bundle exec sidekiq', workerEnv),
          alive: builtin.checkAlive('worker-jobs-green', true),
        },
      ]),
    ),
    built(
      'workers.ts',
      'stopWorkers',
      stopWorkers([builtin.stop('worker-jobs-green', 'kill -TSTP "$WORKER_PID"', workerEnv)]),
    ),
    built(
      'probe.ts',
      'probeCommand',
      probeCommand(l, {
        app: 'shop',
        ports: { blue: 3001, green: 3002 },
        members: { blue: builtin.members('blue'), green: builtin.members('green') },
      }),
    ),
  ]
}
