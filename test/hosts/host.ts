import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process'
import {
  appendFileSync,
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { get } from 'node:http'
import { connect } from 'node:net'
import { join } from 'node:path'
import { createHostCgroup, removeHostCgroups } from './cgroup.js'
import { HOST_ENV, run, sleep, tail, type RunResult } from './exec.js'
import { KEY_TYPES, keygen, publicKeyLine, type KeyType } from './keys.js'
import { killNetns } from './net.js'

/**
 * Directories private to each host: bind-mounted from `<host.dir>/<same path>`. /root too, so SSH
 * sessions start with a clean home like a new server's, not this machine's shell profile; and
 * /var/tmp, the temp dir of every SSH session (TMPDIR, see sshdConfig), so that what a host
 * script leaves there stays with the host, where the lab's stop finds it (/tmp is this
 * machine's, shared with every other process and lab).
 */
export const PRIVATE_DIRS = [
  'srv',
  'etc/nginx',
  'var/log/nginx',
  'var/lib/nginx',
  'root',
  'var/tmp',
] as const
/** The temp dir of the host's SSH sessions (mode 1777, as /tmp). */
const SESSION_TMP = 'var/tmp'
/** More private dirs of a host that runs systemd: its unit files, journal and sudoers. */
export const SYSTEMD_PRIVATE_DIRS = [
  'etc/systemd/system',
  'var/log/journal',
  'etc/sudoers.d',
] as const
/** Files of a systemd host that start as copies of the machine's, so tests can add users. */
const SYSTEMD_COPIED_FILES = ['etc/passwd', 'etc/group', 'etc/shadow'] as const

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
  /** Port of the host's sshd (on {@link address}). */
  sshPort: number
  /**
   * Where the runner side connects for SSH: the host's sshd, or with the lab's `rttMs` its delaying
   * proxy on 127.0.0.1 (test/hosts/delay-proxy.ts).
   */
  ssh: { host: string; port: number }
  /** {@link ssh} as the action's `hosts` input writes it: `<address>`, or `127.0.0.1:<port>`. */
  sshTarget: string
  /** '<type> <base64>' of the host key sshd offers. */
  hostKeyLine: string
  /** '<address> <type> <base64>', or with a proxy '[127.0.0.1]:<port> <type> <base64>' (names {@link ssh}). */
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
  /**
   * What SSH sessions left in the host's temp dir (their TMPDIR), e.g. `tmp.AbC123 (b, h)`:
   * every script that makes a temp file must remove it on every path.
   */
  tempLeftovers(): string[]
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
  /** Boot systemd as the host's pid 1 (see SYSTEMD_INIT_SCRIPT). */
  systemd?: boolean
  /** A proxy in front of the host's sshd that the runner side connects to instead (lab `rttMs`). */
  sshVia?: { host: string; port: number }
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

/**
 * A host whose pid 1 is systemd, like a real server: runs as pid 1 of new pid, mount, uts, ipc
 * and cgroup namespaces, in the host's own cgroup (the cgroup namespace's root, so systemd
 * manages only that subtree; see ENTER_CGROUP). Nothing it does may reach the machine, so
 * before systemd starts: private /run, /tmp (the host dir stays visible), /dev (a few device
 * nodes, its own devpts), journal, unit dir, sudoers.d and copies of /etc/passwd, group and
 * shadow; its own cgroup2 mount; /, /sys and /proc/sys read-only (no sysctl, udev or tmpfiles
 * cleanup of the machine's files); no capability to load modules, set the clock or reboot. It
 * boots lab.target (sshd, nginx, dbus and what systemd pulls in for any service: sysinit,
 * journald). Args: $1 host dir, $2 hostname, then the private dirs.
 */
const SYSTEMD_INIT_SCRIPT = `set -eu
h=$1; echo "$2" > /proc/sys/kernel/hostname; shift 2
mount -t proc proc /proc
for d in "$@"; do mkdir -p "/$d"; mount --bind "$h/$d" "/$d"; done
mount --bind "$h/etc/hosts" /etc/hosts
for f in hostname passwd group shadow; do mount --bind "$h/etc/$f" "/etc/$f"; done
umount -l /run/netns 2>/dev/null || true
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
mkdir /run/lab; mount --bind "$h" /run/lab
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mkdir -p "$h"; mount --move /run/lab "$h"; rmdir /run/lab
mkdir /run/dev; mount -t tmpfs -o mode=755,nosuid tmpfs /run/dev
for n in null zero full random urandom tty; do
  touch "/run/dev/$n"; mount --bind "/dev/$n" "/run/dev/$n"
done
touch /run/dev/console; mount --bind "$h/ssh/console.log" /run/dev/console
mkdir /run/dev/pts /run/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts /run/dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /run/dev/shm
ln -s pts/ptmx /run/dev/ptmx; ln -s /proc/self/fd /run/dev/fd
mount --move /run/dev /dev; rmdir /run/dev
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
mount -o remount,bind,ro /sys
mount --bind /proc/sys /proc/sys; mount -o remount,bind,ro /proc/sys
mount -o remount,bind,ro /
exec env container=dzd-lab setpriv \
  --bounding-set=-sys_module,-sys_time,-sys_boot,-sys_rawio,-syslog,-mknod,-wake_alarm,-block_suspend,-sys_pacct,-mac_admin,-mac_override,-audit_control \
  /lib/systemd/systemd --system --unit=lab.target --log-target=console --show-status=0
`
const SYSTEMD_UNSHARE = [
  ...['unshare', '--mount', '--uts', '--ipc', '--pid', '--fork', '--propagation', 'private'],
]
/**
 * Moves the calling process (pid 1 of the host) into the cgroup at path $1 of the cgroup2
 * hierarchy (mounted for the moment on the fresh /sys that `ip netns exec` gave the host), then
 * execs the rest of its argv.
 */
const ENTER_CGROUP = `set -e
mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo $$ > "/sys/fs/cgroup$1/cgroup.procs"
umount /sys/fs/cgroup
shift
exec "$@"`

/** Units of a systemd host: sshd and nginx, and system units that have no business in a lab. */
function systemdUnits(spec: HostSpec): Record<string, string> {
  const masked = [
    'systemd-tmpfiles-setup.service',
    'systemd-tmpfiles-setup-dev.service',
    'systemd-tmpfiles-setup-dev-early.service',
    'systemd-tmpfiles-clean.timer',
    'systemd-udevd.service',
    'systemd-udev-trigger.service',
    'systemd-modules-load.service',
    'systemd-sysctl.service',
    'systemd-binfmt.service',
    'systemd-random-seed.service',
    'systemd-update-utmp.service',
    'systemd-remount-fs.service',
  ]
  return {
    // dbus: systemctl needs it for a user that is not root, as on a real server.
    'lab.target':
      '[Unit]\nDescription=lab host\nWants=lab-sshd.service lab-nginx.service dbus.socket\n',
    'lab-sshd.service': `[Unit]
Description=lab sshd
[Service]
ExecStartPre=/bin/mkdir -p /run/sshd
ExecStart=/usr/sbin/sshd -D -e -f ${spec.dir}/ssh/sshd_config -E ${spec.dir}/ssh/sshd.log
KillMode=process
`,
    'lab-nginx.service': `[Unit]
Description=lab nginx
[Service]
Type=forking
PIDFile=/var/lib/nginx/nginx.pid
ExecStart=/usr/sbin/nginx
`,
    ...Object.fromEntries(masked.map((unit) => [unit, ''])),
  }
}

/** Writes the host's private dirs, host keys, sshd and nginx configs. */
export async function prepareHost(spec: HostSpec): Promise<Record<KeyType, string>> {
  const { dir } = spec
  for (const d of [...PRIVATE_DIRS, 'etc/nginx/conf.d', 'etc/nginx/sites-enabled', 'ssh']) {
    mkdirSync(join(dir, d), { recursive: true })
  }
  chmodSync(join(dir, SESSION_TMP), 0o1777)
  for (const f of readdirSync('/etc/nginx', { withFileTypes: true })) {
    // mime.types, proxy_params, fastcgi_params, ...
    if (!f.isFile() || f.name === 'nginx.conf') continue
    copyFileSync(join('/etc/nginx', f.name), join(dir, 'etc/nginx', f.name))
  }
  writeFileSync(join(dir, 'etc/nginx/nginx.conf'), nginxConf())
  writeFileSync(join(dir, 'etc/nginx/conf.d/_lab.conf'), LAB_SITE)
  writeFileSync(join(dir, 'etc/hosts'), spec.etcHosts)
  if (spec.systemd) writeSystemdFiles(spec)
  writeFileSync(join(dir, 'ssh/authorized_keys'), `${spec.clientPublicKey}\n`)
  const key = (t: KeyType) => join(dir, `ssh/ssh_host_${t}_key`)
  await Promise.all(KEY_TYPES.map((t) => keygen(key(t), t, `root@${spec.name}`)))
  writeFileSync(join(dir, 'ssh/sshd_config'), sshdConfig(spec, spec.keyTypes.map(key)))
  const hostKeys = {} as Record<KeyType, string>
  for (const t of KEY_TYPES) hostKeys[t] = publicKeyLine(`${key(t)}.pub`)
  return hostKeys
}

function writeSystemdFiles(spec: HostSpec): void {
  const units = join(spec.dir, 'etc/systemd/system')
  for (const d of SYSTEMD_PRIVATE_DIRS) mkdirSync(join(spec.dir, d), { recursive: true })
  for (const [name, text] of Object.entries(systemdUnits(spec))) {
    if (text) writeFileSync(join(units, name), text)
    else symlinkSync('/dev/null', join(units, name)) // masked
  }
  writeFileSync(join(spec.dir, 'etc/hostname'), `${spec.name}\n`)
  for (const f of SYSTEMD_COPIED_FILES) copyFileSync(join('/', f), join(spec.dir, f))
  writeFileSync(join(spec.dir, 'ssh/console.log'), '')
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
SetEnv TMPDIR=/${SESSION_TMP}
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
  readonly ssh: { host: string; port: number }
  readonly sshTarget: string
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
    this.ssh = spec.sshVia ?? { host: spec.address, port: this.sshPort }
    const direct = this.ssh.port === 22
    this.sshTarget = direct ? this.ssh.host : `${this.ssh.host}:${this.ssh.port}`
    const name = direct ? this.ssh.host : `[${this.ssh.host}]:${this.ssh.port}`
    this.knownHostsLine = `${name} ${this.hostKeyLine}`
    this.authorizedKeysPath = join(spec.dir, 'ssh/authorized_keys')
  }

  get pid(): number | undefined {
    const c = this.child
    return c && c.exitCode === null && c.signalCode === null ? c.pid : undefined
  }

  /** The process whose namespaces sh() enters: the init, or with systemd its pid 1 (a child of unshare). */
  private nsTarget(): number | undefined {
    const pid = this.pid
    if (!pid || !this.spec.systemd) return pid
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim()
    return children ? Number(children.split(' ')[0]) : undefined
  }

  async start(): Promise<void> {
    if (this.pid) return
    const log = openSync(join(this.dir, 'ssh/init.log'), 'a')
    const [program, ...argv] = this.initArgv()
    const stdio: StdioOptions = ['ignore', log, log]
    const child = spawn(program!, argv, { detached: true, stdio, env: HOST_ENV })
    closeSync(log)
    child.unref()
    this.child = child
    this.exited = new Promise((resolve) => child.once('exit', resolve).once('error', resolve))
    await this.waitReady(this.spec.startTimeoutMs ?? 10_000)
  }

  /**
   * The host's init, run in its netns. A systemd host's init (pid 1 of its pid namespace) first
   * moves itself into the host's cgroup, then into a cgroup namespace rooted there: unshare, the
   * test process's child, stays outside, so the host's cgroup is empty (removable) as soon as
   * the host's processes die, even before the test process reaps unshare.
   */
  private initArgv(): string[] {
    const netns = ['ip', 'netns', 'exec', this.netns]
    const hostArgs = ['lab-init', this.dir, this.name]
    if (!this.spec.systemd) {
      return [...netns, ...UNSHARE, 'sh', '-c', INIT_SCRIPT, ...hostArgs, ...PRIVATE_DIRS]
    }
    const dirs = [...PRIVATE_DIRS, ...SYSTEMD_PRIVATE_DIRS]
    const init = ['sh', '-c', SYSTEMD_INIT_SCRIPT, ...hostArgs, ...dirs]
    const cgroup = ['sh', '-c', ENTER_CGROUP, 'lab-cgroup', createHostCgroup(this.netns)]
    return [...netns, ...SYSTEMD_UNSHARE, ...cgroup, 'unshare', '--cgroup', ...init]
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
    if (this.spec.systemd) removeHostCgroups((name) => name === this.netns)
  }

  sh(script: string, opts: ShOptions = {}): Promise<RunResult> {
    const pid = this.nsTarget()
    if (!pid) return Promise.reject(new Error(`${this.name} is stopped; cannot run: ${script}`))
    const namespaces = this.spec.systemd ? ['--ipc', '--pid', '--cgroup'] : []
    const enter = ['nsenter', '--target', String(pid), '--net', '--mount', '--uts', ...namespaces]
    enter.push('--')
    const argv = [...enter, 'sh', '-c', script]
    return run(argv, { ...opts, env: HOST_ENV }).catch((err: Error) => {
      throw Object.assign(err, { message: `${this.name}: ${err.message}` })
    })
  }

  authorize(publicKeyLine: string): void {
    appendFileSync(this.authorizedKeysPath, `${publicKeyLine.trim()}\n`)
  }

  /** What is left in the host's temp dir; nothing once the lab's dir is gone (a second stop). */
  tempLeftovers(): string[] {
    const tmp = join(this.dir, SESSION_TMP)
    if (!existsSync(tmp)) return []
    return readdirSync(tmp, { withFileTypes: true }).map((entry) => {
      if (!entry.isDirectory()) return entry.name
      return `${entry.name} (${readdirSync(join(tmp, entry.name)).sort().join(', ')})`
    })
  }

  logs(): string {
    const files = ['ssh/sshd.log', 'ssh/init.log', 'var/log/nginx/error.log']
    if (this.spec.systemd) files.push('ssh/console.log')
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
