/**
 * Every input of the action, parsed and validated into one typed `Settings` object (pure: the
 * caller passes a reader such as `core.getInput`). All problems are collected and reported
 * together in one `InputError`, each naming the input, what was given and what was expected,
 * before any host is touched.
 */
import { checkCombinations } from './checks.js'
import {
  absolutePath,
  amount,
  assetFolders,
  appName,
  boolean,
  cookieName,
  duration,
  environmentName,
  errorRateOrOff,
  hostAddress,
  httpPath,
  httpUrl,
  ignorePatterns,
  integer,
  latencyOrNone,
  listenAddress,
  localPath,
  nginxFilePath,
  oneOf,
  optional,
  port,
  serverNames,
  sha256Hex,
  userName,
  versionName,
  weights,
  workerCommands,
} from './parsers.js'
import { InputError, InputReader } from './reader.js'
import {
  KEEP_PREVIOUS,
  ON_FAILURE,
  PROCESS_MANAGERS,
  STRATEGIES,
  type Amount,
  type CanarySettings,
  type HealthSettings,
  type NginxSettings,
  type RollbackSettings,
  type Settings,
  type SiteSettings,
  type SlotSettings,
  type WatchSettings,
  type WorkerSettings,
} from './settings.js'

/**
 * Reads, defaults and validates every input. `get` returns the raw value of an input ('' when it
 * is not set), like `core.getInput`. Throws `InputError` listing every problem found.
 */
export function parseInputs(get: (name: string) => string): Settings {
  const r = new InputReader(get)

  // Connection
  const sshUser = r.field('ssh-user', userName, 'root')
  const sshPort = r.field('ssh-port', port, 22)
  const defaults = { user: sshUser, port: sshPort }
  const hosts = r.hostList('hosts', defaults)
  const privateKey = r.privateKey('ssh-key')
  const passphrase = r.text('ssh-key-passphrase')
  const knownHosts = r.knownHosts('known-hosts')
  const insecureIgnoreHostKey = r.field('insecure-ignore-host-key', boolean, false)
  const proxyJump = r.field('proxy-jump', optional(hostAddress(defaults), undefined), undefined)
  const proxyKey = r.text('proxy-key') === '' ? '' : r.privateKey('proxy-key')
  const proxyPassphrase = r.text('proxy-key-passphrase')
  const proxyKnownHosts = r.knownHosts('proxy-known-hosts')
  const connectTimeoutMs = r.field('connect-timeout', duration({ allowZero: false }), 20_000)
  const maxParallel = r.field('max-parallel', integer(1, 256), 10)

  // App
  const name = r.field('app-name', appName, '')
  const deployPath = r.field('deploy-path', optional(absolutePath('directory'), `/srv/${name}`), '')
  const version = r.field('version', optional(versionName, ''), '')
  const releasePath = r.field('release-path', localPath, '.')
  const artifactUrl = r.field('artifact-url', optional(httpUrl, ''), '')
  const exclude = r.field('exclude', ignorePatterns, [])
  const assetPaths = r.field('asset-path', assetFolders, [])
  const artifactSha256 = r.field('artifact-sha256', optional(sha256Hex, ''), '')
  const artifactToken = r.token('artifact-token')
  const env = r.env('env')
  const secretEnv = r.env('secret-env')
  r.distinctKeys('env', env, 'secret-env', secretEnv)
  const processManager = r.field('process-manager', oneOf(PROCESS_MANAGERS), 'auto')
  const workers: WorkerSettings = {
    commands: r.field('worker-command', workerCommands, []),
    stopCommand: r.text('worker-stop-command'),
    stopTimeoutMs: r.field('worker-stop-timeout', duration({ allowZero: false }), 30_000),
    hosts: r.hostList('worker-hosts', defaults, true),
  }
  const keepReleases = r.field('keep-releases', integer(2, Infinity), 5)

  // Strategy
  const strategy = r.field('strategy', oneOf(STRATEGIES), 'blue-green')
  const batchSize = r.field<Amount>('batch-size', amount, { kind: 'count', value: 1 })
  const loadBalancer = r.field(
    'load-balancer',
    optional(hostAddress(defaults), undefined),
    undefined,
  )
  const lbUpstreamFile = r.field(
    'lb-upstream-file',
    optional(absolutePath('file'), `/etc/nginx/conf.d/${name}.lb.conf`),
    '',
  )
  const lbBackendPort = r.field('lb-backend-port', port, 80)
  const onFailure = r.field('on-failure', oneOf(ON_FAILURE), 'rollback')
  const canary: CanarySettings = {
    weights: r.field('canary-weight', weights, [10, 50, 100]),
    stepDurationMs: r.field('canary-step-duration', duration({ allowZero: false }), 60_000),
    maxErrorRate: r.field('canary-max-error-rate', errorRateOrOff, 0.01),
    minRequests: r.field('canary-min-requests', integer(0, Infinity), 20),
    maxLatencyMs: r.field('canary-max-latency', latencyOrNone, null),
    hosts: r.field('canary-hosts', optional(amount, undefined), undefined),
    stickyCookie: r.field('canary-sticky-cookie', optional(cookieName, ''), ''),
    checkCommand: r.text('canary-check-command'),
    accessLog: r.field(
      'canary-access-log',
      optional(nginxFilePath, `/var/log/nginx/${name}-canary.log`),
      '',
    ),
  }

  const watch: WatchSettings = {
    durationMs: r.field('watch', duration({ allowZero: true }), 0),
    maxErrorRate: r.field('watch-max-error-rate', errorRateOrOff, 0.05),
    minRequests: r.field('watch-min-requests', integer(0, Infinity), 20),
    maxLatencyMs: r.field('watch-max-latency', latencyOrNone, null),
    checkCommand: r.text('watch-check-command'),
  }

  // Slots and health
  const slots: SlotSettings = {
    bluePort: r.field('blue-port', port, 3001),
    greenPort: r.field('green-port', port, 3002),
    drainTimeoutMs: r.field('drain-timeout', duration({ allowZero: true }), 30_000),
    stopTimeoutMs: r.field('stop-timeout', duration({ allowZero: false }), 10_000),
    keepPrevious: r.field('keep-previous', oneOf(KEEP_PREVIOUS), 'stop'),
  }
  const health: HealthSettings = {
    path: r.field('health-path', httpPath, '/health'),
    versionPath: r.field('version-path', optional(httpPath, ''), ''),
    timeoutMs: r.field('health-timeout', duration({ allowZero: false }), 60_000),
    intervalMs: r.field('health-interval', duration({ allowZero: false }), 1000),
  }

  // nginx, lock, rollback, GitHub
  const nginx: NginxSettings = {
    upstreamFile: r.field(
      'nginx-upstream-file',
      optional(absolutePath('file'), `/etc/nginx/conf.d/${name}.upstream.conf`),
      '',
    ),
    testCommand: r.text('nginx-test-command'),
    reloadCommand: r.text('nginx-reload-command'),
    verifyPort: r.field(
      'nginx-verify-port',
      optional(port, slots.greenPort + 1),
      slots.greenPort + 1,
    ),
  }
  const site: SiteSettings = {
    serverNames: r.field('nginx-site', optional(serverNames, []), []),
    listen: r.field('nginx-site-listen', listenAddress, '80'),
    file: r.field(
      'nginx-site-file',
      optional(absolutePath('file'), `/etc/nginx/conf.d/${name}.site.conf`),
      '',
    ),
  }
  const rollbackTo = r.field('rollback-to', optional(versionName, ''), '')
  const rollback: RollbackSettings = {
    enabled: r.field('rollback', boolean, false) || rollbackTo !== '',
    toVersion: rollbackTo,
  }

  const settings: Settings = {
    hosts,
    ssh: {
      user: sshUser,
      port: sshPort,
      privateKey,
      passphrase,
      knownHosts,
      insecureIgnoreHostKey,
      proxyJump,
      proxyKey,
      proxyPassphrase,
      proxyKnownHosts,
      connectTimeoutMs,
      maxParallel,
    },
    app: {
      name,
      deployPath,
      version,
      buildCommand: r.text('build-command'),
      releasePath,
      artifactUrl,
      exclude,
      assetPaths,
      artifactSha256,
      artifactToken,
      startCommand: r.text('start-command'),
      stopCommand: r.text('stop-command'),
      reloadCommand: r.text('reload-command'),
      env,
      secretEnv,
      migrateCommand: r.text('migrate-command'),
      postDeployCommand: r.text('post-deploy-command'),
      smokeCommand: r.text('smoke-command'),
      processManager,
      keepReleases,
    },
    workers,
    strategy,
    rolling: { batchSize, loadBalancer, lbUpstreamFile, lbBackendPort, onFailure },
    canary,
    watch,
    slots,
    health,
    nginx,
    site,
    sudo: r.field('sudo', boolean, false),
    force: r.field('force', boolean, false),
    lockTimeoutMs: r.field('lock-timeout', duration({ allowZero: true }), 300_000),
    rollback,
    github: {
      environment: r.field('environment', optional(environmentName, ''), ''),
      url: r.field('url', optional(httpUrl, ''), ''),
      token: r.text('github-token'),
    },
    dryRun: r.field('dry-run', boolean, false),
  }

  checkCombinations(r, settings)
  if (r.problems.length > 0) throw new InputError(r.problems, r.flagged)
  return settings
}
