import { spawn, type ChildProcess } from 'node:child_process'
import {
  appendFileSync,
  closeSync,
  copyFileSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs'
import { get } from 'node:http'
import { connect } from 'node:net'
import { join } from 'node:path'
import { HOST_ENV, run, sleep, tail, type RunResult } from './exec.js'
import { KEY_TYPES, keygen, publicKeyLine, type KeyType } from './keys.js'
import { killNetns } from './net.js'

/**
 * Directories private to each host: bind-mounted from `<host.dir>/<same path>`. /root too, so SSH
 * sessions start with a clean home like a new server's, not this machine's shell profile.
 */
export const PRIVATE_DIRS = ['srv', 'etc/nginx', 'var/log/nginx', 'var/lib/nginx', 'root'] as const

/** Options of {@link LabHost.sh}. */
export interface ShOptions {
  /** Resolve with the exit code instead of rejecting when the script fails. */
  allowFail?: boolean
  /** Default 30 s. */
  timeoutMs?: number
}

/** One throwaway host: its own netns + mount namespace, sshd and nginx. */
export interface LabHost {
  /** e.g. 'host1' (also its hostname inside, and resolvable by the other hosts via /etc/hosts). */
  name: string
  /** IPv4 on the lab bridge, e.g. '10.213.57.10'. */
  address: string
  sshPort: number
  /** '<type> <base64>' of the host key sshd offers. */
  hostKeyLine: string
  /** '<address> <type> <base64>'. */
  knownHostsLine: string
  /** '<type> <base64>' of every host key generated for this host, offered or not. */
  hostKeys: Record<KeyType, string>
  /** Runner-side dir holding this host's private /srv, /etc/nginx, ... and ssh/ (keys, config, logs). */
  dir: string
  /** File sshd reads authorized keys from; starts with the lab's client key. */
  authorizedKeysPath: string
  netns: string
  /** Pid of the host's init process (sshd after startup); undefined while stopped. */
  readonly pid: number | undefined
  /** Runs a shell script as root INSIDE the host's namespaces (net, mount, uts) via nsenter, not over SSH. */
  sh(script: string, opts?: ShOptions): Promise<RunResult>
  /** Kills every process of the host (sshd, nginx, sessions, apps): the host goes down. */
  stop(): Promise<void>
  /** Boots the host again (private dirs keep their content) and waits until sshd and nginx answer. */
  start(): Promise<void>
  /** Adds a public key line to this host's authorized_keys. */
  authorize(publicKeyLine: string): void
  /** Tails of the sshd, init and nginx logs, for failure messages. */
  logs(): string
}

export interface HostSpec {
  name: string
  address: string
  netns: string
  dir: string
  keyTypes: KeyType[]
  clientPublicKey: string
  /** Content of the host's /etc/hosts. */
  etcHosts: string
  /** How long start() waits for sshd and nginx, default 10 s. */
  startTimeoutMs?: number
}

/**
 * Runs in the host's fresh netns + mount + uts namespaces. Args: $1 host dir, $2 hostname, then
 * the private dirs. Execs sshd at the end so the spawned pid stays the host's anchor process.
 */
const INIT_SCRIPT = `set -eu
h=$1; echo "$2" > /proc/sys/kernel/hostname; shift 2
for d in "$@"; do mkdir -p "/$d"; mount --bind "$h/$d" "/$d"; done
mount --bind "$h/etc/hosts" /etc/hosts
mkdir -p /run/sshd
nginx
exec /usr/sbin/sshd -D -e -f "$h/ssh/sshd_config" -E "$h/ssh/sshd.log"
`
const UNSHARE = ['unshare', '--mount', '--uts', '--propagation', 'private']

/** Writes the host's private dirs, host keys, sshd and nginx configs. */
export async function prepareHost(spec: HostSpec): Promise<Record<KeyType, string>> {
  const { dir } = spec
  for (const d of [...PRIVATE_DIRS, 'etc/nginx/conf.d', 'etc/nginx/sites-enabled', 'ssh']) {
    mkdirSync(join(dir, d), { recursive: true })
  }
  for (const f of readdirSync('/etc/nginx', { withFileTypes: true })) {
    // mime.types, proxy_params, fastcgi_params, ...
    if (!f.isFile() || f.name === 'nginx.conf') continue
    copyFileSync(join('/etc/nginx', f.name), join(dir, 'etc/nginx', f.name))
  }
  writeFileSync(join(dir, 'etc/nginx/nginx.conf'), nginxConf())
  writeFileSync(join(dir, 'etc/nginx/conf.d/_lab.conf'), LAB_SITE)
  writeFileSync(join(dir, 'etc/hosts'), spec.etcHosts)
  writeFileSync(join(dir, 'ssh/authorized_keys'), `${spec.clientPublicKey}\n`)
  const key = (t: KeyType) => join(dir, `ssh/ssh_host_${t}_key`)
  await Promise.all(KEY_TYPES.map((t) => keygen(key(t), t, `root@${spec.name}`)))
  writeFileSync(join(dir, 'ssh/sshd_config'), sshdConfig(spec, spec.keyTypes.map(key)))
  const hostKeys = {} as Record<KeyType, string>
  for (const t of KEY_TYPES) hostKeys[t] = publicKeyLine(`${key(t)}.pub`)
  return hostKeys
}

const hasUser = (user: string) => readFileSync('/etc/passwd', 'utf8').includes(`\n${user}:`)

const nginxConf = () => `${hasUser('www-data') ? 'user www-data;\n' : ''}worker_processes 2;
pid /var/lib/nginx/nginx.pid;
error_log /var/log/nginx/error.log;
events { worker_connections 512; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  sendfile on;
  access_log /var/log/nginx/access.log;
  include /etc/nginx/conf.d/*.conf;
  include /etc/nginx/sites-enabled/*;
}
`

/** Health site. 'listen 80' (not '<address>:80') so that sites added by tests with 'listen 80' still get the host address. */
const LAB_SITE = `server {
  listen 80;
  server_name _lab;
  location = /_lab/ping { return 200 "ok"; }
}
`

const sshdConfig = (spec: HostSpec, hostKeys: string[]) => `ListenAddress ${spec.address}:22
AddressFamily inet
${hostKeys.map((k) => `HostKey ${k}`).join('\n')}
PidFile ${spec.dir}/ssh/sshd.pid
AuthorizedKeysFile ${spec.dir}/ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding yes
LogLevel VERBOSE
MaxStartups 100:30:200
MaxSessions 50
PrintMotd no
Subsystem sftp internal-sftp
`

/** Runtime side of a host: boots and kills its init process. */
export class Host implements LabHost {
  readonly sshPort = 22
  readonly name: string
  readonly address: string
  readonly dir: string
  readonly netns: string
  readonly hostKeyLine: string
  readonly knownHostsLine: string
  readonly authorizedKeysPath: string
  private child: ChildProcess | undefined
  private exited: Promise<void> = Promise.resolve()

  constructor(
    private readonly spec: HostSpec,
    readonly hostKeys: Record<KeyType, string>,
  ) {
    ;({ name: this.name, address: this.address, dir: this.dir, netns: this.netns } = spec)
    this.hostKeyLine = hostKeys[spec.keyTypes[0]]
    this.knownHostsLine = `${spec.address} ${this.hostKeyLine}`
    this.authorizedKeysPath = join(spec.dir, 'ssh/authorized_keys')
  }

  get pid(): number | undefined {
    const c = this.child
    return c && c.exitCode === null && c.signalCode === null ? c.pid : undefined
  }

  async start(): Promise<void> {
    if (this.pid) return
    const log = openSync(join(this.dir, 'ssh/init.log'), 'a')
    const init = ['sh', '-c', INIT_SCRIPT, 'lab-init', this.dir, this.name, ...PRIVATE_DIRS]
    const argv = ['netns', 'exec', this.netns, ...UNSHARE, ...init]
    const child = spawn('ip', argv, { detached: true, stdio: ['ignore', log, log], env: HOST_ENV })
    closeSync(log)
    child.unref()
    this.child = child
    this.exited = new Promise((resolve) => child.once('exit', resolve).once('error', resolve))
    await this.waitReady(this.spec.startTimeoutMs ?? 10_000)
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    let ssh = false
    let http = false
    while (Date.now() < deadline && this.pid) {
      ssh ||= await sshBanner(this.address)
      http ||= await httpPing(this.address)
      if (ssh && http) return
      await sleep(25)
    }
    const state = this.pid
      ? `did not come up within ${timeoutMs} ms`
      : `init exited (${this.child?.exitCode ?? this.child?.signalCode})`
    const logs = this.logs()
    await this.stop()
    throw new Error(
      `test/hosts: ${this.name} (${this.address}) ${state} ` +
        `(sshd ${ssh ? 'up' : 'down'}, nginx ${http ? 'up' : 'down'})\n${logs}`,
    )
  }

  async stop(): Promise<void> {
    await killNetns(this.netns)
    await this.exited
  }

  sh(script: string, opts: ShOptions = {}): Promise<RunResult> {
    const pid = this.pid
    if (!pid) return Promise.reject(new Error(`${this.name} is stopped; cannot run: ${script}`))
    const enter = ['nsenter', '--target', String(pid), '--net', '--mount', '--uts', '--']
    const argv = [...enter, 'sh', '-c', script]
    return run(argv, { ...opts, env: HOST_ENV }).catch((err: Error) => {
      throw Object.assign(err, { message: `${this.name}: ${err.message}` })
    })
  }

  authorize(publicKeyLine: string): void {
    appendFileSync(this.authorizedKeysPath, `${publicKeyLine.trim()}\n`)
  }

  logs(): string {
    const files = ['ssh/sshd.log', 'ssh/init.log', 'var/log/nginx/error.log']
    return files.map((f) => tail(join(this.dir, f))).join('\n')
  }
}

/** True when something at address:port speaks SSH (sends its banner). */
function sshBanner(host: string, port = 22): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1000 })
    const done = (ok: boolean) => (socket.destroy(), resolve(ok))
    socket.once('data', (d) => done(d.toString().startsWith('SSH-')))
    socket.once('error', () => done(false))
    socket.once('timeout', () => done(false))
  })
}

/**
 * True when nginx answers GET /_lab/ping with 200 "ok". Sent with `Host: _lab`, so it reaches the
 * lab's own site even when a test's site on port 80 is the default server.
 */
function httpPing(host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get(
      {
        host,
        port: 80,
        path: '/_lab/ping',
        headers: { host: '_lab' },
        timeout: 1000,
        agent: false,
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8').on('data', (d: string) => (body += d))
        res.on('end', () => resolve(res.statusCode === 200 && body === 'ok'))
        res.on('error', () => resolve(false))
      },
    )
    req.once('error', () => resolve(false))
    req.once('timeout', () => req.destroy())
  })
}
