/**
 * Every input of the action, parsed and validated into one typed settings object (pure: the
 * caller passes a reader such as `core.getInput`). All problems are collected and reported
 * together in one `InputError`, each naming the input, what was given and what was expected,
 * before any host is touched.
 */
import { isIPv4, isIPv6 } from 'node:net'
import { parseDuration } from './duration.js'
import { parseIgnorePatterns, type IgnorePattern } from './release/ignore.js'
import { FINGERPRINT_LIKE, parseFingerprintPin } from './ssh/known-hosts.js'

// ---------------------------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------------------------

const DEFAULTS = {
  // Connection
  hosts: '',
  'ssh-user': 'root',
  'ssh-port': '22',
  'ssh-key': '',
  'ssh-key-passphrase': '',
  'known-hosts': '',
  'insecure-ignore-host-key': 'false',
  'proxy-jump': '',
  // Jump host's own credentials ('' = those of the targets)
  'proxy-key': '',
  'proxy-key-passphrase': '',
  'proxy-known-hosts': '',
  'connect-timeout': '20s',
  'max-parallel': '10',
  // App
  'app-name': '',
  'deploy-path': '',
  version: '',
  'build-command': '',
  'release-path': '.',
  'artifact-url': '',
  // What ships: patterns left out of release-path; checksum and token of artifact-url
  exclude: '',
  'artifact-sha256': '',
  'artifact-token': '',
  'start-command': '',
  'stop-command': '',
  'reload-command': '',
  env: '',
  'secret-env': '',
  'migrate-command': '',
  'post-deploy-command': '',
  'smoke-command': '',
  'process-manager': 'auto',
  'keep-releases': '5',
  // Strategy
  strategy: 'blue-green',
  'batch-size': '1',
  'load-balancer': '',
  'lb-upstream-file': '',
  'lb-backend-port': '80',
  'on-failure': 'rollback',
  'canary-weight': '10,50,100',
  'canary-step-duration': '60s',
  'canary-max-error-rate': '1%',
  'canary-min-requests': '20',
  'canary-hosts': '',
  'canary-sticky-cookie': '',
  'canary-check-command': '',
  'canary-access-log': '',
  // Slots and health
  'blue-port': '3001',
  'green-port': '3002',
  'health-path': '/health',
  'version-path': '',
  'health-timeout': '60s',
  'health-interval': '1s',
  'drain-timeout': '30s',
  'stop-timeout': '10s',
  'keep-previous': 'stop',
  // nginx
  'nginx-upstream-file': '',
  'nginx-test-command': 'nginx -t',
  'nginx-reload-command': 'nginx -s reload',
  'nginx-verify-port': '',
  // Managed nginx site
  'nginx-site': '',
  'nginx-site-listen': '80',
  'nginx-site-file': '',
  sudo: 'false',
  force: 'false',
  // Lock, rollback, GitHub, misc
  'lock-timeout': '5m',
  rollback: 'false',
  'rollback-to': '',
  environment: '',
  url: '',
  'github-token': '${{ github.token }}',
  'dry-run': 'false',
} as const

/** The name of one input of the action, as written in a workflow's `with:`. */
export type InputName = keyof typeof DEFAULTS

/**
 * The raw default of every input, exactly as action.yml declares it ('' = no default). The runner
 * passes these itself; `parseInputs` applies them too, so local runs and tests behave the same.
 */
export const INPUT_DEFAULTS: Readonly<Record<InputName, string>> = DEFAULTS

/** Environment variables the action sets for every slot; `env` may not override them. */
export const SLOT_ENV_KEYS = [
  'PORT',
  'SLOT',
  'APP_VERSION',
  'RELEASE_DIR',
  'DEPLOY_PATH',
  'RELEASE_NODE',
] as const

export const STRATEGIES = ['blue-green', 'rolling', 'canary', 'reload'] as const
export const ON_FAILURE = ['rollback', 'stop'] as const
export const KEEP_PREVIOUS = ['stop', 'warm'] as const
export const PROCESS_MANAGERS = ['auto', 'builtin', 'systemd'] as const

/** How hosts move to the new version; see DESIGN.md "Strategies". */
export type Strategy = (typeof STRATEGIES)[number]
/** What a failed rolling batch does to the batches already switched. */
export type OnFailure = (typeof ON_FAILURE)[number]
/** What happens to the old slot after the switch: stopped, or kept running for instant rollback. */
export type KeepPrevious = (typeof KEEP_PREVIOUS)[number]
/**
 * Who runs the app: supervised detached processes with pidfiles (builtin), systemd units, or
 * (auto) systemd where the host runs it and the login user may manage the units, else builtin.
 */
export type ProcessManager = (typeof PROCESS_MANAGERS)[number]

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

/** A number of hosts: an exact count (`2`), or a percentage of the fleet (`25%`, 1-100). */
export type Amount = { kind: 'count'; value: number } | { kind: 'percent'; value: number }

/** One SSH destination, from `[user@]host[:port]`. */
export interface HostAddress {
  /** Login user: from `user@`, else `ssh-user`. */
  user: string
  /** DNS name (lowercased), IPv4 or IPv6 address, without brackets. */
  host: string
  /** From `:port`, else `ssh-port`. */
  port: number
  /** Display form: `host`, or `host:port` / `[v6]:port` when the port is not 22. */
  label: string
}

export interface SshSettings {
  /** Default login user for hosts without `user@` (`ssh-user`). */
  user: string
  /** Default port for hosts without `:port` (`ssh-port`). */
  port: number
  /** Private key text (PEM, OpenSSH or PuTTY), with `\n` line ends and a final newline. */
  privateKey: string
  /** Passphrase of `privateKey`; '' when it is not encrypted. */
  passphrase: string
  /** known_hosts text to verify host keys against; '' only with `insecureIgnoreHostKey`. */
  knownHosts: string
  /** Accept any host key (`insecure-ignore-host-key`). */
  insecureIgnoreHostKey: boolean
  /** Jump host every connection goes through (`proxy-jump`), if any. */
  proxyJump: HostAddress | undefined
  /** The jump host's own private key (`proxy-key`); '' = `privateKey`. */
  proxyKey: string
  /** Passphrase of `proxyKey`; '' when it is not encrypted. */
  proxyPassphrase: string
  /** known_hosts text for the jump host (`proxy-known-hosts`); '' = `knownHosts`. */
  proxyKnownHosts: string
  /** Give up connecting (TCP + SSH handshake) to one host after this long. */
  connectTimeoutMs: number
  /** At most this many hosts are worked on at the same time (1-256). */
  maxParallel: number
}

export interface AppSettings {
  /** `app-name`: lowercase, safe in nginx upstream names, file names and systemd unit names. */
  name: string
  /** Absolute, normalized directory on each host (`/srv/<name>` by default). */
  deployPath: string
  /** Release version; '' = not given (main derives it from the commit SHA). */
  version: string
  /** Shell command run on the runner before packing; '' = none. */
  buildCommand: string
  /** Directory or archive on the runner to ship (`.` by default). */
  releasePath: string
  /** http(s) URL of a release archive to ship instead of `releasePath`; '' = none. */
  artifactUrl: string
  /** `exclude`: paths of a packed `releasePath` left out (release/ignore.ts for the syntax). */
  exclude: IgnorePattern[]
  /** `artifact-sha256`: lowercase hex sha256 the download must have; '' = not checked. */
  artifactSha256: string
  /** `artifact-token`: sent as `Authorization: Bearer <token>` with the download (a secret). */
  artifactToken: string
  /** Command that starts one slot, run from the release dir; '' only for rollbacks. */
  startCommand: string
  /** Command that stops one slot; '' = SIGTERM, then SIGKILL after `slots.stopTimeoutMs`. */
  stopCommand: string
  /** Command that hot-reloads the app (strategy `reload`); '' = none. */
  reloadCommand: string
  /** Variables written to `shared/.env`, in input order (plain values, not masked). */
  env: Record<string, string>
  /** Variables written to `shared/.env` after `env`, their values masked in the log. */
  secretEnv: Record<string, string>
  /** Expand migration, run once (first host) before traffic moves; '' = none. */
  migrateCommand: string
  /** Contract step, run once after every host switched and old slots stopped; '' = none. */
  postDeployCommand: string
  /** Command run on the runner against the new slots (`DEPLOY_PREVIEW_URLS`); '' = none. */
  smokeCommand: string
  /** How slots are run. */
  processManager: ProcessManager
  /** Releases kept on each host (at least 2); older ones are pruned, never live or previous. */
  keepReleases: number
}

export interface RollingSettings {
  /** Hosts per batch. */
  batchSize: Amount
  /** Host whose nginx balances over the app hosts; batches are marked `down` there. */
  loadBalancer: HostAddress | undefined
  /** Upstream file on the load balancer (`/etc/nginx/conf.d/<app>.lb.conf` by default). */
  lbUpstreamFile: string
  /** Port of the app hosts' nginx that the load balancer sends traffic to. */
  lbBackendPort: number
  /** After a failed batch: swap the switched batches back (`rollback`), or leave them (`stop`). */
  onFailure: OnFailure
}

export interface CanarySettings {
  /** Traffic percentages for the new slot, strictly ascending, ending with 100. */
  weights: number[]
  /** How long each step bakes before the next. */
  stepDurationMs: number
  /** Abort when the new slot's 5xx share exceeds this fraction (0.01 = 1 %). */
  maxErrorRate: number
  /**
   * `canary-max-error-rate: off`: the user chose to judge on health (and canary-check-command)
   * only, so a step without access log evidence passes. Otherwise such a step aborts (fail closed).
   */
  healthOnly: boolean
  /** The error rate is judged only after this many requests reached the new slot. */
  minRequests: number
  /** Canary this many hosts instead of a traffic share; `undefined` = traffic share. */
  hosts: Amount | undefined
  /** Cookie that keeps a user on one version during the bake; '' = none. */
  stickyCookie: string
  /** Command run on each canary host (from the new release) after each step; '' = none. */
  checkCommand: string
  /** nginx access log in the `<app>_canary` format, read for the new slot's 5xx rate. */
  accessLog: string
}

export interface SlotSettings {
  /** Port of the blue slot (differs from `greenPort`). */
  bluePort: number
  /** Port of the green slot. */
  greenPort: number
  /** Wait at most this long for old nginx workers to finish before stopping the old slot (0 = no wait). */
  drainTimeoutMs: number
  /** After SIGTERM (or `stopCommand`), SIGKILL after this long. */
  stopTimeoutMs: number
  /** Old slot after a successful switch. */
  keepPrevious: KeepPrevious
}

export interface HealthSettings {
  /** HTTP path whose 2xx answer means healthy; starts with `/`. */
  path: string
  /** HTTP path whose body must contain the version; '' = not checked. */
  versionPath: string
  /** A slot that is not healthy after this long has failed. */
  timeoutMs: number
  /** Time between two health requests (less than `timeoutMs`). */
  intervalMs: number
}

export interface NginxSettings {
  /** The upstream include file the action owns (`/etc/nginx/conf.d/<app>.upstream.conf`). */
  upstreamFile: string
  /** Command that tests the nginx configuration. */
  testCommand: string
  /** Command that reloads nginx gracefully. */
  reloadCommand: string
  /**
   * Port (on 127.0.0.1) of the small verification server in the upstream file, through which
   * the action checks after a reload where nginx sends requests (`green-port` + 1 by default).
   */
  verifyPort: number
}

/** `nginx-site`: a minimal site the action writes and owns (none when `serverNames` is empty). */
export interface SiteSettings {
  /** `server_name` values; empty = no managed site. */
  serverNames: string[]
  /** `listen` value: a port, `address:port` or `[ipv6]:port`. */
  listen: string
  /** The site file (`/etc/nginx/conf.d/<app>.site.conf` by default). */
  file: string
}

export interface RollbackSettings {
  /** Switch back instead of deploying (`rollback: true`, or `rollback-to` given). */
  enabled: boolean
  /** Version to return to; '' = the previous release. */
  toVersion: string
}

export interface GitHubSettings {
  /** GitHub environment to record a Deployment in; '' = no Deployment. */
  environment: string
  /** URL shown on the Deployment and in the `url` output; '' = none. */
  url: string
  /** Token for the Deployments API; '' outside of Actions. */
  token: string
}

/** Everything the action was asked to do, validated. Durations are in milliseconds. */
export interface Settings {
  /** Target hosts in the given order (at least one, no host:port twice). */
  hosts: HostAddress[]
  ssh: SshSettings
  app: AppSettings
  strategy: Strategy
  /** Used by strategy `rolling`. */
  rolling: RollingSettings
  /** Used by strategy `canary`. */
  canary: CanarySettings
  slots: SlotSettings
  health: HealthSettings
  nginx: NginxSettings
  /** Managed site (`nginx-site`). */
  site: SiteSettings
  /** Run privileged commands (nginx test/reload, systemctl) through `sudo -n`. */
  sudo: boolean
  /** Overwrite the nginx upstream file even when it was edited by hand since the last deploy. */
  force: boolean
  /** Wait at most this long for another deploy's lock (0 = fail at once when it is held). */
  lockTimeoutMs: number
  rollback: RollbackSettings
  github: GitHubSettings
  /** Validate, connect and plan, but change nothing on any host. */
  dryRun: boolean
}

/** One or more inputs are invalid; `problems` names each one. */
export class InputError extends Error {
  constructor(
    readonly problems: readonly string[],
    /** The inputs the problems are about (each problem's first-named input). */
    readonly inputs: ReadonlySet<InputName> = new Set(),
  ) {
    const count = `${problems.length} problem${problems.length === 1 ? '' : 's'}`
    super(`Invalid inputs (${count}):\n${problems.map((p) => `- ${p}`).join('\n')}`)
    this.name = 'InputError'
  }
}

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
  const artifactSha256 = r.field('artifact-sha256', optional(sha256Hex, ''), '')
  const artifactToken = r.token('artifact-token')
  const env = r.env('env')
  const secretEnv = r.env('secret-env')
  r.distinctKeys('env', env, 'secret-env', secretEnv)
  const processManager = r.field('process-manager', oneOf(PROCESS_MANAGERS), 'auto')
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
    maxErrorRate: r.field('canary-max-error-rate', errorRateOrOff, 0.01) ?? 1,
    healthOnly: r.text('canary-max-error-rate') === 'off',
    minRequests: r.field('canary-min-requests', integer(1, Infinity), 20),
    hosts: r.field('canary-hosts', optional(amount, undefined), undefined),
    stickyCookie: r.field('canary-sticky-cookie', optional(cookieName, ''), ''),
    checkCommand: r.text('canary-check-command'),
    accessLog: r.field(
      'canary-access-log',
      optional(nginxFilePath, `/var/log/nginx/${name}-canary.log`),
      '',
    ),
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
    strategy,
    rolling: { batchSize, loadBalancer, lbUpstreamFile, lbBackendPort, onFailure },
    canary,
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

/**
 * The secret values among the settings, for `core.setSecret`: the key and passphrase, the token
 * and every `secret-env` value (not `env`: values from `${{ secrets.* }}` are masked by the runner
 * already, and masking plain ones like `production` garbles the log). Multi-line values are
 * split into lines, since log masking works per line.
 */
export function secretValues(settings: Settings): string[] {
  const values = [
    settings.ssh.privateKey,
    settings.ssh.passphrase,
    settings.ssh.proxyKey,
    settings.ssh.proxyPassphrase,
    settings.github.token,
    settings.app.artifactToken,
    ...Object.values(settings.app.secretEnv),
  ]
  const lines = values.flatMap((value) => value.split('\n')).map((line) => line.trim())
  return [...new Set(lines.filter((line) => line !== ''))]
}

// ---------------------------------------------------------------------------------------------
// Rules that involve more than one input
// ---------------------------------------------------------------------------------------------

/** `proxy-key`, its passphrase and `proxy-known-hosts` belong to a `proxy-jump`. */
function checkJumpHostCredentials(r: InputReader, s: Settings): void {
  const { proxyJump, proxyKey, proxyPassphrase } = s.ssh
  if (proxyJump === undefined && r.valid('proxy-jump')) {
    const given = (['proxy-key', 'proxy-key-passphrase', 'proxy-known-hosts'] as const).filter(
      (name) => r.text(name) !== '',
    )
    for (const name of given) {
      r.report(
        name,
        `Input '${name}' was given without 'proxy-jump' (expected a jump host ` +
          `'[user@]host[:port]' in 'proxy-jump' for it to apply to, or no '${name}').`,
      )
    }
  }
  if (proxyKey !== '' && proxyPassphrase === '' && isEncryptedKey(proxyKey)) {
    r.report(
      'proxy-key-passphrase',
      "Input 'proxy-key-passphrase' is required because 'proxy-key' is encrypted (expected the " +
        "key's passphrase, e.g. from a secret).",
    )
  }
  if (
    proxyJump !== undefined &&
    proxyPassphrase !== '' &&
    proxyKey === '' &&
    r.valid('proxy-key')
  ) {
    r.report(
      'proxy-key-passphrase',
      "Input 'proxy-key-passphrase' was given without 'proxy-key' (expected the jump host's " +
        "own key in 'proxy-key'; the passphrase of 'ssh-key' goes in 'ssh-key-passphrase').",
    )
  }
}

function checkCombinations(r: InputReader, s: Settings): void {
  if (
    s.ssh.knownHosts === '' &&
    !s.ssh.insecureIgnoreHostKey &&
    r.valid('insecure-ignore-host-key')
  ) {
    r.report(
      'known-hosts',
      "Input 'known-hosts' is required unless 'insecure-ignore-host-key' is true (expected the " +
        "hosts' public key lines, e.g. the output of 'ssh-keyscan web1.example.com').",
    )
  }
  if (s.ssh.passphrase === '' && s.ssh.privateKey !== '' && isEncryptedKey(s.ssh.privateKey)) {
    r.report(
      'ssh-key-passphrase',
      "Input 'ssh-key-passphrase' is required because 'ssh-key' is encrypted (expected the " +
        "key's passphrase, e.g. from a secret).",
    )
  }
  checkJumpHostCredentials(r, s)
  if (s.app.startCommand === '' && !s.rollback.enabled && r.valid('rollback', 'rollback-to')) {
    r.report(
      'start-command',
      "Input 'start-command' is required unless 'rollback' is true (expected the command that " +
        "starts the app on $PORT, e.g. 'node server.js').",
    )
  }
  if (s.strategy === 'reload' && s.app.reloadCommand === '') {
    r.report(
      'reload-command',
      "Input 'reload-command' is required when 'strategy' is reload (expected the command that " +
        "makes the app reload itself, e.g. 'kill -USR2 $(cat tmp/pids/puma.pid)').",
    )
  }
  if (s.app.artifactUrl !== '' && s.app.releasePath !== DEFAULTS['release-path']) {
    r.report(
      'artifact-url',
      `Input 'artifact-url': ${show(s.app.artifactUrl)} was given together with 'release-path' ` +
        `${show(s.app.releasePath)} (expected only one of them: the release comes from one place).`,
    )
  }
  checkReleaseSource(r, s)
  if (s.slots.bluePort === s.slots.greenPort && r.valid('blue-port', 'green-port')) {
    r.report(
      'green-port',
      `Input 'green-port': ${show(r.text('green-port'))} is the same port as 'blue-port' ` +
        `${show(r.text('blue-port'))} (expected two different ports, one per slot).`,
    )
  }
  const { verifyPort } = s.nginx
  if (
    (verifyPort === s.slots.bluePort || verifyPort === s.slots.greenPort) &&
    r.valid('nginx-verify-port', 'blue-port', 'green-port')
  ) {
    r.report(
      'nginx-verify-port',
      `Input 'nginx-verify-port': ${verifyPort} is also a slot port ('blue-port' or 'green-port') ` +
        `(expected a third port, used by nginx to let the action verify a switch).`,
    )
  }
  checkSite(r, s)
  if (s.health.intervalMs >= s.health.timeoutMs && r.valid('health-interval', 'health-timeout')) {
    r.report(
      'health-interval',
      `Input 'health-interval': ${show(r.text('health-interval'))} is not shorter than ` +
        `'health-timeout' ${show(r.text('health-timeout'))} (expected an interval below the ` +
        `timeout, so that a slot is checked more than once).`,
    )
  }
  checkBatchSize(r, s)
  const canaryHosts = s.canary.hosts
  const hostCount = s.hosts.length
  // A percentage is rounded up, as batch-size is.
  const canaryCount =
    canaryHosts?.kind === 'percent'
      ? Math.ceil((hostCount * canaryHosts.value) / 100)
      : (canaryHosts?.value ?? 0)
  if (canaryCount >= hostCount && r.valid('hosts')) {
    r.report(
      'canary-hosts',
      `Input 'canary-hosts': ${show(r.text('canary-hosts'))} is not fewer than the ${hostCount} ` +
        `host${hostCount === 1 ? '' : 's'} in 'hosts' (expected fewer hosts than 'hosts' lists, so ` +
        `that some stay on the old version during the bake).`,
    )
  }
}

/** Hosts per batch for `batch-size` (a count, or a percentage of the fleet rounded up). */
export function batchSizeOf(amount: Amount, hostCount: number): number {
  const size = amount.kind === 'count' ? amount.value : Math.ceil((hostCount * amount.value) / 100)
  return Math.max(1, Math.min(size, hostCount))
}

/** Whether the run moves hosts in batches behind `load-balancer` (rolling, or canary by hosts). */
export function usesLoadBalancer(settings: Settings): boolean {
  const batched =
    settings.strategy === 'rolling' ||
    (settings.strategy === 'canary' && settings.canary.hosts !== undefined)
  return batched && settings.rolling.loadBalancer !== undefined
}

/**
 * Batches behind a load balancer must leave it at least one server: a batch that would take
 * every host out at once is refused before any host is touched. A rollback moves no batches.
 */
function checkBatchSize(r: InputReader, s: Settings): void {
  const { rolling, hosts } = s
  if (s.rollback.enabled || !usesLoadBalancer(s)) return
  if (!r.valid('hosts', 'batch-size', 'rollback', 'rollback-to')) return
  const size = batchSizeOf(rolling.batchSize, hosts.length)
  if (size < hosts.length) return
  r.report(
    'batch-size',
    `Input 'batch-size': ${size} of ${hosts.length} host(s) per batch would take every server out ` +
      `of the load balancer at once; use a smaller batch-size (or more hosts).`,
  )
}

/** `exclude` applies to a packed directory; `artifact-sha256` and `artifact-token` to a URL. */
function checkReleaseSource(r: InputReader, s: Settings): void {
  const { artifactUrl, exclude, artifactSha256, artifactToken } = s.app
  if (artifactUrl !== '' && exclude.length > 0) {
    r.report(
      'exclude',
      "Input 'exclude' was given together with 'artifact-url' (expected exclude only with a " +
        "'release-path' directory that the action packs; a downloaded archive ships as it is).",
    )
  }
  if (artifactUrl === '' && artifactSha256 !== '' && r.valid('artifact-url')) {
    r.report(
      'artifact-sha256',
      "Input 'artifact-sha256' was given without 'artifact-url' (expected it only with " +
        'artifact-url, to check the download).',
    )
  }
  if (artifactUrl === '' && artifactToken !== '' && r.valid('artifact-url')) {
    r.report(
      'artifact-token',
      "Input 'artifact-token' was given without 'artifact-url' (expected it only with " +
        'artifact-url, to authorize the download).',
    )
  }
}

/** The managed site: only with `nginx-site`, on its own port and file. */
function checkSite(r: InputReader, s: Settings): void {
  const { serverNames, listen, file } = s.site
  if (serverNames.length === 0) {
    if (r.text('nginx-site-file') !== '' && r.valid('nginx-site', 'nginx-site-file')) {
      r.report(
        'nginx-site-file',
        `Input 'nginx-site-file': ${show(file)} was given without 'nginx-site' (expected ` +
          `'nginx-site' with the site's server names, or no 'nginx-site-file').`,
      )
    }
    return
  }
  const listenPort = Number(/(\d+)$/.exec(listen)?.[1])
  const taken = [
    ['blue-port', s.slots.bluePort],
    ['green-port', s.slots.greenPort],
    ['nginx-verify-port', s.nginx.verifyPort],
  ] as const
  for (const [input, port] of taken) {
    if (listenPort === port && r.valid('nginx-site-listen', input)) {
      r.report(
        'nginx-site-listen',
        `Input 'nginx-site-listen': ${show(listen)} uses port ${port}, which is '${input}' ` +
          `(expected a port the slots and the verification server do not use, like 80).`,
      )
    }
  }
  if (file === s.nginx.upstreamFile && r.valid('nginx-site-file', 'nginx-upstream-file')) {
    r.report(
      'nginx-site-file',
      `Input 'nginx-site-file': ${show(file)} is also 'nginx-upstream-file' (expected two ` +
        `different files: the site and the upstream it proxies to).`,
    )
  }
}

// ---------------------------------------------------------------------------------------------
// Reading inputs and collecting problems
// ---------------------------------------------------------------------------------------------

/** A parsed value, or what is wrong with the given text and what was expected instead. */
type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string; expected: string }
type Parser<T> = (text: string) => Parsed<T>

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value })
const bad = <T>(problem: string, expected: string): Parsed<T> => ({ ok: false, problem, expected })

class InputReader {
  readonly problems: string[] = []
  private readonly invalid = new Set<InputName>()
  /** Every input a problem was reported for, by its own check or by a combination rule. */
  readonly flagged = new Set<InputName>()

  constructor(private readonly get: (name: string) => string) {}

  /** The trimmed value, or the input's default when empty (expressions like `${{ }}` give ''). */
  text(name: InputName): string {
    const value = this.get(name).trim()
    if (value !== '') return value
    const fallback: string = DEFAULTS[name]
    return fallback.includes('${{') ? '' : fallback
  }

  /** The parsed value; on a problem, records it and returns `fallback` so reading continues. */
  field<T>(name: InputName, parse: Parser<T>, fallback: T): T {
    const text = this.text(name)
    const result = parse(text)
    if (result.ok) return result.value
    if (text === '') {
      return this.fail(name, fallback, `Input '${name}' is required (expected ${result.expected}).`)
    }
    return this.fail(
      name,
      fallback,
      `Input '${name}': ${show(text)} ${result.problem} (expected ${result.expected}).`,
    )
  }

  /** Records a problem that involves several inputs (already worded). */
  /** A problem of a rule that involves more than one input; `input` is the one it names first. */
  report(input: InputName, problem: string): void {
    this.flagged.add(input)
    this.problems.push(problem)
  }

  /** Whether none of `names` had a problem (combination rules skip inputs already reported). */
  valid(...names: InputName[]): boolean {
    return names.every((name) => !this.invalid.has(name))
  }

  hostList(name: InputName, defaults: HostDefaults): HostAddress[] {
    const entries = this.text(name)
      .split(/[\s,]+/)
      .filter((entry) => entry !== '')
    if (entries.length === 0) {
      return this.fail(
        name,
        [],
        `Input '${name}' is required (expected one or more ${HOST_FORMAT}, one per line or ` +
          `separated by commas).`,
      )
    }
    const hosts: HostAddress[] = []
    const seen = new Map<string, string>()
    for (const entry of entries) {
      const result = hostAddress(defaults)(entry)
      if (!result.ok) {
        this.fail(
          name,
          [],
          `Input '${name}': ${show(entry)} ${result.problem} (expected ${result.expected}).`,
        )
        continue
      }
      const key = `${result.value.host}:${result.value.port}`
      const first = seen.get(key)
      if (first !== undefined) {
        this.fail(
          name,
          [],
          `Input '${name}': ${show(entry)} is the same host and port as ${show(first)} ` +
            `(expected each host:port once; one host cannot take its own deploy lock twice).`,
        )
        continue
      }
      seen.set(key, entry)
      hosts.push(result.value)
    }
    return hosts
  }

  /** The private key, normalized to `\n` line ends with a final newline. Never echoes the value. */
  privateKey(name: InputName): string {
    const key = this.text(name).replace(/\r\n?/g, '\n')
    const expected =
      "the private key text starting with '-----BEGIN' or 'PuTTY-User-Key-File', e.g. " +
      "'${{ secrets.DEPLOY_KEY }}'"
    const hidden = (problem: string) =>
      this.fail(name, '', `Input '${name}': the value (hidden) ${problem} (expected ${expected}).`)
    if (key === '')
      return this.fail(name, '', `Input '${name}' is required (expected ${expected}).`)
    if (/^(ssh-|ecdsa-|sk-)[a-z0-9@.-]+ AAAA/.test(key)) return hidden('is a public key')
    if (!key.includes('\n') && key.includes('\\n')) {
      return hidden("has literal '\\n' in place of line breaks")
    }
    if (!PRIVATE_KEY_PEM.test(key) && !key.startsWith('PuTTY-User-Key-File-')) {
      return hidden('is not a private key')
    }
    return `${key}\n`
  }

  /** A bearer token: one line of visible characters. Never echoed. */
  token(name: InputName): string {
    const token = this.text(name)
    if (token === '' || /^[\x21-\x7e]+$/.test(token)) return token
    return this.fail(
      name,
      '',
      `Input '${name}': the value (hidden) contains whitespace, control or non-ASCII ` +
        `characters (expected the token alone, e.g. '\${{ secrets.ARTIFACT_TOKEN }}'; it is ` +
        `sent as 'Authorization: Bearer <token>').`,
    )
  }

  /** known_hosts lines, and SHA256 fingerprint pins (appleboy's `fingerprint`), checked. */
  knownHosts(name: InputName): string {
    const text = this.text(name)
    text.split(/\r?\n/).forEach((raw, index) => {
      const line = raw.trim()
      if (line === '' || line.startsWith('#')) return
      const fields = line.split(/\s+/)
      if (fields[0]?.startsWith('@')) fields.shift()
      const where = `Input '${name}': line ${index + 1} ${show(line)}`
      if (parseFingerprintPin(fields, '')) return
      const print = fields.slice(0, 2).find((field) => FINGERPRINT_LIKE.test(field))
      if (print !== undefined && !/^SHA256:/i.test(print)) {
        this.fail(
          name,
          '',
          `${where} is an MD5 fingerprint (expected a SHA256 one, 'SHA256:' and 43 characters ` +
            `as 'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub' prints it, or a known_hosts line).`,
        )
      } else if (print !== undefined) {
        this.fail(
          name,
          '',
          `${where} is not a complete SHA256 fingerprint (expected 'SHA256:' and 43 characters ` +
            `as 'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub' prints it).`,
        )
      } else if (fields.length < 3 || !/^(ssh-|ecdsa-|sk-)/.test(fields[1] ?? '')) {
        this.fail(
          name,
          '',
          `${where} is not a known_hosts entry (expected lines like ` +
            `'web1.example.com ssh-ed25519 AAAAC3...', e.g. from ssh-keyscan, or a host-key ` +
            `fingerprint 'SHA256:...').`,
        )
      }
    })
    return text
  }

  /** `KEY=VALUE` lines into an ordered record. Values are secrets: messages show line and key only. */
  env(name: InputName): Record<string, string> {
    const entries: [string, string][] = []
    const lineOfKey = new Map<string, number>()
    const reserved: readonly string[] = SLOT_ENV_KEYS
    this.text(name)
      .split(/\r?\n/)
      .forEach((raw, index) => {
        const line = raw.trim()
        const lineNo = index + 1
        if (line === '' || line.startsWith('#')) return
        const eq = line.indexOf('=')
        if (eq < 0) {
          this.fail(
            name,
            {},
            `Input '${name}': line ${lineNo} has no '=' (expected KEY=VALUE lines; ` +
              `values cannot span lines).`,
          )
          return
        }
        const key = line.slice(0, eq).trim()
        if (!ENV_KEY.test(key)) {
          this.fail(
            name,
            {},
            `Input '${name}': line ${lineNo} does not start with a variable name (expected ` +
              `KEY=VALUE with KEY of letters, digits and '_', not starting with a digit; the line ` +
              `is not shown since it may hold a secret).`,
          )
          return
        }
        if (reserved.includes(key)) {
          this.fail(
            name,
            {},
            `Input '${name}': line ${lineNo} sets ${key}, which the action sets for each slot ` +
              `(expected none of ${SLOT_ENV_KEYS.join(', ')}).`,
          )
          return
        }
        const first = lineOfKey.get(key)
        if (first !== undefined) {
          this.fail(
            name,
            {},
            `Input '${name}': line ${lineNo} sets ${key} again, already set on line ${first} ` +
              `(expected each key once).`,
          )
          return
        }
        lineOfKey.set(key, lineNo)
        entries.push([key, unquote(line.slice(eq + 1).trim())])
      })
    // fromEntries defines own properties, so even a key like __proto__ stays plain data.
    return Object.fromEntries(entries)
  }

  /** The same variable in two `KEY=VALUE` inputs: which value would win is unclear, so refuse. */
  distinctKeys(
    first: InputName,
    a: Record<string, string>,
    second: InputName,
    b: Record<string, string>,
  ): void {
    for (const key of Object.keys(b).filter((k) => Object.hasOwn(a, k))) {
      this.fail(
        second,
        undefined,
        `Input '${second}': sets ${key}, which '${first}' sets too (expected each variable in ` +
          `one of them: '${second}' for values to mask in the log).`,
      )
    }
  }

  private fail<T>(name: InputName, fallback: T, problem: string): T {
    this.invalid.add(name)
    this.flagged.add(name)
    this.problems.push(problem)
    return fallback
  }
}

/** The given text as shown in messages: quoted, control characters escaped, long text cut. */
function show(text: string): string {
  const escaped = text.replace(/\p{Cc}/gu, (c) =>
    c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  )
  return `'${escaped.length > 80 ? `${escaped.slice(0, 77)}...` : escaped}'`
}

// ---------------------------------------------------------------------------------------------
// Parsers for one value each
// ---------------------------------------------------------------------------------------------

const TRUE = ['true', 'yes', 'on', '1']
const FALSE = ['false', 'no', 'off', '0']
const APP_NAME = /^[a-z][a-z0-9_-]{0,39}$/
const VERSION = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/
const USER = /^[a-z_][a-z0-9_.-]*$/i
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/
/** nginx reads the cookie as `$cookie_<name>`, and nginx variable names are [A-Za-z0-9_]. */
const COOKIE_NAME = /^[A-Za-z0-9_]{1,64}$/
const SERVER_NAME =
  /^(\*\.)?[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i
const CONTROL_OR_SPACE = /[\s\p{Cc}]/u
const PRIVATE_KEY_PEM =
  /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\n[\s\S]+\n-----END [A-Z0-9 ]*PRIVATE KEY-----/
const HOST_FORMAT = '[user@]host[:port]'
const USER_EXPECTED = "a user name of letters, digits, '_', '.' and '-', like 'deploy'"

/** An input that may be left empty: '' gives `empty` (e.g. '', `undefined` or a derived default). */
function optional<T, E>(parse: Parser<T>, empty: E): Parser<T | E> {
  return (text) => (text === '' ? ok(empty) : parse(text))
}

const boolean: Parser<boolean> = (text) => {
  const lower = text.toLowerCase()
  if (TRUE.includes(lower)) return ok(true)
  if (FALSE.includes(lower)) return ok(false)
  return bad('is not a boolean', 'true or false; yes/no, on/off and 1/0 also work')
}

function integer(min: number, max: number): Parser<number> {
  const expected = max === Infinity ? `an integer of at least ${min}` : `an integer ${min}-${max}`
  return (text) => {
    if (!/^\d+$/.test(text)) return bad('is not an integer', expected)
    const value = Number(text)
    return value >= min && value <= max ? ok(value) : bad('is out of range', expected)
  }
}

const port: Parser<number> = (text) => {
  const value = /^\d+$/.test(text) ? Number(text) : NaN
  return value >= 1 && value <= 65535 ? ok(value) : bad('is not a port', 'an integer 1-65535')
}

function duration(options: { allowZero: boolean }): Parser<number> {
  const examples = "e.g. '30s', '2m', '1m30s', '500ms', or plain seconds like '45'"
  return (text) => {
    const ms = parseDuration(text)
    if (ms === undefined) return bad('is not a duration', `a duration, ${examples}`)
    if (ms === 0 && !options.allowZero) return bad('is zero', 'a duration greater than 0')
    if (ms > 86_400_000) return bad('is too long', 'a duration of at most 24h')
    return ok(ms)
  }
}

function oneOf<const T extends string>(options: readonly T[]): Parser<T> {
  return (text) => {
    const value = options.find((option) => option === text)
    return value !== undefined
      ? ok(value)
      : bad('is not a valid choice', `one of ${options.join(', ')}`)
  }
}

const amount: Parser<Amount> = (text) => {
  const expected = "a count of at least 1 like '2', or a percentage 1-100 like '25%'"
  const match = /^(\d+)(%?)$/.exec(text)
  if (!match) return bad('is not a count or percentage', expected)
  const value = Number(match[1])
  if (match[2] === '%')
    return value >= 1 && value <= 100
      ? ok({ kind: 'percent', value })
      : bad('is out of range', expected)
  return value >= 1 ? ok({ kind: 'count', value }) : bad('is out of range', expected)
}

/** A percentage 0-100 (`1%`, `1`, `0.5%`) as a fraction (0.01, 0.01, 0.005). */
const errorRate: Parser<number> = (text) => {
  const expected = "a percentage 0-100 like '1%' or '0.5%'"
  const match = /^(\d+(?:\.\d+)?)%?$/.exec(text)
  if (!match) return bad('is not a percentage', expected)
  const value = Number(match[1])
  return value <= 100 ? ok(value / 100) : bad('is out of range', expected)
}

/** canary-max-error-rate: a percentage, or `off` (null: judged on health only). */
const errorRateOrOff: Parser<number | null> = (text) => {
  if (text === 'off') return ok(null)
  const rate = errorRate(text)
  return rate.ok ? rate : bad(rate.problem, `${rate.expected}, or 'off' to judge on health only`)
}

const weights: Parser<number[]> = (text) => {
  const expected = "percentages 1-100, strictly ascending and ending with 100, like '10,50,100'"
  const items = text.split(',').map((item) => item.trim())
  if (items.some((item) => !/^\d+$/.test(item))) return bad('is not a list of integers', expected)
  const values = items.map(Number)
  if (values.some((value) => value < 1 || value > 100)) return bad('is out of range', expected)
  if (values.some((value, i) => i > 0 && value <= (values[i - 1] ?? 0))) {
    return bad('is not strictly ascending', expected)
  }
  if (values.at(-1) !== 100) return bad('does not end with 100', expected)
  return ok(values)
}

const appName: Parser<string> = (text) =>
  APP_NAME.test(text)
    ? ok(text)
    : bad(
        'is not a valid app name',
        "1-40 characters of a-z, 0-9, '_' and '-', starting with a letter, like 'shop'; " +
          'it names nginx upstreams, files and systemd units',
      )

const versionName: Parser<string> = (text) =>
  VERSION.test(text)
    ? ok(text)
    : bad(
        'is not a valid version',
        "1-64 characters of A-Z, a-z, 0-9, '.', '_', '+' and '-', starting with a letter or digit",
      )

const userName: Parser<string> = (text) =>
  USER.test(text) ? ok(text) : bad('is not a valid user name', USER_EXPECTED)

function absolutePath(kind: 'directory' | 'file'): Parser<string> {
  const expected = `an absolute, normalized ${kind} path like '${kind === 'file' ? '/etc/nginx/conf.d/app.conf' : '/srv/app'}'`
  return (text) => {
    if (CONTROL_OR_SPACE.test(text))
      return bad('contains whitespace or control characters', expected)
    if (!text.startsWith('/')) return bad('is not an absolute path', expected)
    if (text.split('/').includes('..')) return bad("contains '..'", expected)
    if (text === '/') return bad('is the root directory', expected)
    if (/\/\/|\/\.(\/|$)|\/$/.test(text)) return bad('is not normalized', expected)
    return ok(text)
  }
}

/** A file path that goes into an nginx config as it is: nothing nginx would read as syntax. */
const nginxFilePath: Parser<string> = (text) => {
  const path = absolutePath('file')(text)
  if (!path.ok || /^[\w./@+-]+$/.test(text)) return path
  return bad(
    'contains characters nginx would read as syntax',
    "an absolute file path of letters, digits and . _ - + @ / like '/var/log/nginx/app-canary.log'",
  )
}

const localPath: Parser<string> = (text) =>
  /\p{Cc}/u.test(text)
    ? bad('contains control characters', "a path on the runner like 'build' or 'dist/app.tar.gz'")
    : ok(text)

const httpPath: Parser<string> = (text) => {
  const expected = "an HTTP path starting with '/', without whitespace, like '/health'"
  if (!text.startsWith('/')) return bad("does not start with '/'", expected)
  if (CONTROL_OR_SPACE.test(text)) return bad('contains whitespace or control characters', expected)
  return ok(text)
}

const httpUrl: Parser<string> = (text) => {
  const expected = "an absolute URL starting with 'https://' or 'http://'"
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return bad('is not a URL', expected)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    return bad('is not an http(s) URL', expected)
  if (CONTROL_OR_SPACE.test(text)) return bad('contains whitespace or control characters', expected)
  return ok(text)
}

/** Patterns (newline- or comma-separated), every bad one named at once. */
const ignorePatterns: Parser<IgnorePattern[]> = (text) => {
  const { patterns, problems } = parseIgnorePatterns(text, 'lines-and-commas')
  return problems.length === 0
    ? ok(patterns)
    : bad(
        `has bad patterns: ${problems.join('; ')}`,
        "gitignore-like patterns relative to release-path, one per line or separated by commas, like 'node_modules/, *.log, /coverage'",
      )
}

const sha256Hex: Parser<string> = (text) =>
  /^[0-9a-f]{64}$/i.test(text)
    ? ok(text.toLowerCase())
    : bad('is not a sha256', "64 hex digits, as 'sha256sum app.tar.gz' prints them")

const cookieName: Parser<string> = (text) =>
  COOKIE_NAME.test(text)
    ? ok(text)
    : bad(
        'is not a valid cookie name',
        "1-64 characters of A-Z, a-z, 0-9 and '_', since nginx reads it as $cookie_<name>",
      )

/** nginx `server_name` values: host names (a leading `*.` allowed), separated by spaces or commas. */
const serverNames: Parser<string[]> = (text) => {
  const names = text.split(/[\s,]+/).filter((n) => n !== '')
  const wrong = names.find((n) => !SERVER_NAME.test(n))
  return wrong === undefined
    ? ok(names)
    : bad(
        `has an invalid server name ${show(wrong)}`,
        "host names like 'shop.example.com' or '*.example.com', separated by spaces or commas",
      )
}

/** nginx `listen`: a port, `IPv4:port` or `[IPv6]:port`. */
const listenAddress: Parser<string> = (text) => {
  const expected = "a port like '80', or 'address:port' like '127.0.0.1:8080' or '[::1]:80'"
  const match = /^(?:(\d+\.\d+\.\d+\.\d+):|\[([0-9a-fA-F:.]+)\]:)?(\d+)$/.exec(text)
  if (!match) return bad('is not a listen address', expected)
  const [, v4, v6, portText = ''] = match
  if ((v4 !== undefined && !isIPv4(v4)) || (v6 !== undefined && !isIPv6(v6))) {
    return bad('has an invalid address', expected)
  }
  return port(portText).ok ? ok(text) : bad('has an invalid port', expected)
}

const environmentName: Parser<string> = (text) =>
  text.length <= 255 && !/\p{Cc}/u.test(text)
    ? ok(text)
    : bad('is not a valid environment name', 'at most 255 characters without control characters')

// ---------------------------------------------------------------------------------------------
// Host addresses
// ---------------------------------------------------------------------------------------------

interface HostDefaults {
  user: string
  port: number
}

/** `[user@]host[:port]`: a DNS name, IPv4, `[IPv6]` (with or without port) or bare IPv6. */
function hostAddress(defaults: HostDefaults): Parser<HostAddress> {
  const expected = `${HOST_FORMAT} with a DNS name, an IPv4 address or an IPv6 address in brackets`
  return (text) => {
    let rest = text
    let user = defaults.user
    const at = rest.lastIndexOf('@')
    if (at >= 0) {
      user = rest.slice(0, at)
      rest = rest.slice(at + 1)
      if (!USER.test(user)) return bad(`has an invalid user ${show(user)}`, USER_EXPECTED)
    }
    let host = rest
    let portText: string | undefined
    if (rest.startsWith('[')) {
      const close = rest.indexOf(']')
      const after = close < 0 ? '' : rest.slice(close + 1)
      host = rest.slice(1, close)
      if (close < 0 || (after !== '' && !after.startsWith(':')) || !isIPv6(host)) {
        return bad('is not a valid host', expected)
      }
      if (after !== '') portText = after.slice(1)
    } else if (rest.split(':').length > 2) {
      if (!isIPv6(rest)) return bad('is not a valid host', expected)
    } else {
      const colon = rest.indexOf(':')
      if (colon >= 0) {
        host = rest.slice(0, colon)
        portText = rest.slice(colon + 1)
      }
      if (!isDnsNameOrIPv4(host)) return bad('is not a valid host', expected)
    }
    host = host.toLowerCase()
    let portNumber = defaults.port
    if (portText !== undefined) {
      const parsed = port(portText)
      if (!parsed.ok) return bad(`has an invalid port ${show(portText)}`, parsed.expected)
      portNumber = parsed.value
    }
    const shown = host.includes(':') ? `[${host}]` : host
    const label = portNumber === 22 ? host : `${shown}:${portNumber}`
    return ok({ user, host, port: portNumber, label })
  }
}

function isDnsNameOrIPv4(host: string): boolean {
  if (/^[\d.]+$/.test(host)) return isIPv4(host)
  return host.length <= 253 && host.split('.').every((label) => DNS_LABEL.test(label))
}

// ---------------------------------------------------------------------------------------------
// Keys and values
// ---------------------------------------------------------------------------------------------

/** Strips one pair of matching surrounding quotes, as .env files are usually written. */
function unquote(value: string): string {
  const quoted = /^(['"])([\s\S]*)\1$/.exec(value)
  return quoted ? (quoted[2] ?? '') : value
}

/** A PEM key marked encrypted, or an OpenSSH key whose cipher is not `none`. */
function isEncryptedKey(key: string): boolean {
  if (key.includes('BEGIN ENCRYPTED PRIVATE KEY') || key.includes('Proc-Type: 4,ENCRYPTED')) {
    return true
  }
  const body =
    /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(key)?.[1]
  if (body === undefined) return false
  const bytes = Buffer.from(body.replace(/\s+/g, ''), 'base64')
  const magic = 'openssh-key-v1\0'
  if (bytes.length < magic.length + 4 || bytes.toString('latin1', 0, magic.length) !== magic) {
    return false
  }
  const length = bytes.readUInt32BE(magic.length)
  const start = magic.length + 4
  return bytes.toString('latin1', start, start + length) !== 'none'
}
