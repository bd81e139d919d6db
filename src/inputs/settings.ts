/**
 * `Settings`: everything the action was asked to do, validated, as one doc-commented object that
 * the rest of the action reads (parse.ts builds it); with the choices of its enum fields and the
 * facts derived from it that more than one part needs.
 */
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
  /** `exclude`: gitignore patterns of paths of a packed `releasePath` left out (release/ignore.ts). */
  exclude: string[]
  /**
   * `asset-path`: folders of the release (relative to its root, none inside another) whose files
   * stay served across versions; empty = none.
   */
  assetPaths: string[]
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

/** One line of `worker-command`: a process of the release beside the web slots. */
export interface WorkerCommand {
  /** 1-20 characters of a-z, 0-9 and '-', starting with a letter; unique. */
  name: string
  command: string
}

export interface WorkerSettings {
  /** The release's workers, in input order; empty = none (a rollback restarts recorded ones). */
  commands: WorkerCommand[]
  /** Command that stops one worker (`WORKER`, `WORKER_PID` set); '' = SIGTERM. */
  stopCommand: string
  /** After SIGTERM (or `stopCommand`), SIGKILL after this long. */
  stopTimeoutMs: number
  /** Hosts that get the release and its workers, but no slots and no nginx; may be empty. */
  hosts: HostAddress[]
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

/**
 * What judges the real traffic of a new version (a canary step, the watch after a switch), from
 * the access log of the app's slots: its 5xx share and p99 latency, once enough requests came in.
 */
export interface EvidenceGate {
  /** Abort above this 5xx share (0.01 = 1 %); null (`off`): the error rate is not judged. */
  maxErrorRate: number | null
  /**
   * Requests to the new version before it is judged: a window that saw fewer is extended (up to
   * 3 times its length), then fails closed. 0: judged on whatever came in.
   */
  minRequests: number
  /** Abort when the p99 of the new version's response time exceeds this; null: not judged. */
  maxLatencyMs: number | null
}

export interface CanarySettings extends EvidenceGate {
  /** Traffic percentages for the new slot, strictly ascending, ending with 100. */
  weights: number[]
  /** How long each step bakes before the next. */
  stepDurationMs: number
  /** Canary this many hosts instead of a traffic share; `undefined` = traffic share. */
  hosts: Amount | undefined
  /** Cookie that keeps a user on one version during the bake; '' = none. */
  stickyCookie: string
  /** Command run on each canary host (from the new release) after each step; '' = none. */
  checkCommand: string
  /**
   * nginx access log in the `<app>_canary` format, read for the new slot's 5xx rate and latency
   * (a canary's and a watch's).
   */
  accessLog: string
}

/**
 * `watch`: after the switch, the new version's real traffic is judged for `durationMs` while the
 * previous slot stays warm; a breach (or no evidence) switches back. Blue-green and rolling (each
 * batch), and a canary's promotion.
 */
export interface WatchSettings extends EvidenceGate {
  /** How long the traffic is judged after the switch; 0 = no watch. */
  durationMs: number
  /** Command run on the runner every health-interval during the watch; non-zero = breach. */
  checkCommand: string
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
  /** Background workers (`worker-command`) and the hosts that run only them (`worker-hosts`). */
  workers: WorkerSettings
  strategy: Strategy
  /** Used by strategy `rolling`. */
  rolling: RollingSettings
  /** Used by strategy `canary`. */
  canary: CanarySettings
  /** The watch after the switch (`watch`); off when its duration is 0. */
  watch: WatchSettings
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
 * Whether the run watches the new version after its switches: `watch` above 0, for the
 * strategies that keep the previous slot warm (not reload; a rollback is not watched).
 */
export function watchApplies(settings: Settings): boolean {
  return (
    settings.watch.durationMs > 0 && settings.strategy !== 'reload' && !settings.rollback.enabled
  )
}
