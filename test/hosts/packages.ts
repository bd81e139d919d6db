import { accessSync, constants, existsSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { HOST_ENV, run } from './exec.js'

/** Binaries the lab needs, and the Debian/Ubuntu package providing each. */
const REQUIRED: { bin: string; pkg: string }[] = [
  { bin: 'sshd', pkg: 'openssh-server' },
  { bin: 'ssh', pkg: 'openssh-client' },
  { bin: 'ssh-keygen', pkg: 'openssh-client' },
  { bin: 'nginx', pkg: 'nginx-light' },
  { bin: 'ip', pkg: 'iproute2' },
  { bin: 'nsenter', pkg: 'util-linux' },
  { bin: 'unshare', pkg: 'util-linux' },
]

/** Absolute path of `bin` on the usual PATH (including sbin dirs), or undefined. */
export function which(bin: string): string | undefined {
  for (const dir of HOST_ENV.PATH!.split(':')) {
    try {
      accessSync(join(dir, bin), constants.X_OK)
      return join(dir, bin)
    } catch {
      // not here
    }
  }
  return undefined
}

/** What hosts that run systemd need besides (test/hosts/host.ts SYSTEMD_INIT_SCRIPT). */
const SYSTEMD = '/lib/systemd/systemd'
const SYSTEMD_REQUIRED: { bin: string; pkg: string }[] = [
  { bin: 'setpriv', pkg: 'util-linux' },
  { bin: 'systemctl', pkg: 'systemd' },
  { bin: 'journalctl', pkg: 'systemd' },
  { bin: 'sudo', pkg: 'sudo' },
  { bin: 'dbus-daemon', pkg: 'dbus' },
]

/**
 * App runtimes of the e2e tests that deploy other stacks than Node, from Debian: `elixir` builds a
 * Mix release on the runner side (the release brings its own erts to the host), `gunicorn` serves
 * a Python app on the host (both sides are this machine).
 */
const RUNTIMES = {
  elixir: [{ bin: 'mix', pkg: 'elixir' }],
  gunicorn: [{ bin: 'gunicorn', pkg: 'gunicorn' }],
} satisfies Record<string, { bin: string; pkg: string }[]>

type Runtime = keyof typeof RUNTIMES

export interface PackageOptions {
  /** Also what systemd hosts need (the systemd, sudo and dbus packages). */
  systemd?: boolean
  /** Also these app runtimes. */
  runtimes?: Runtime[]
}

/** Packages providing the binaries that are missing (empty when all is installed). */
export function missingPackages(opts: PackageOptions = {}): string[] {
  const required = [
    ...REQUIRED,
    ...(opts.systemd ? SYSTEMD_REQUIRED : []),
    ...(opts.runtimes ?? []).flatMap((runtime) => RUNTIMES[runtime]),
  ]
  const missing = required.filter((r) => !which(r.bin)).map((r) => r.pkg)
  if (opts.systemd && !existsSync(SYSTEMD)) missing.push('systemd')
  return [...new Set(missing)]
}

/**
 * Makes sure sshd, ssh, nginx, ip, nsenter are installed (with `systemd`, also systemd, setpriv,
 * sudo and dbus; with `runtimes`, those app runtimes): as root, installs the missing packages with apt-get (nginx-light, else nginx)
 * without starting their system services; otherwise throws a message saying what to install.
 */
export async function ensurePackages(opts: PackageOptions = {}): Promise<void> {
  while (installing) await installing.catch(() => {})
  if (missingPackages(opts).length === 0) return
  return (installing = install(opts).finally(() => (installing = undefined)))
}

let installing: Promise<void> | undefined

async function install(opts: PackageOptions): Promise<void> {
  let missing = missingPackages(opts)
  if (missing.length === 0) return
  if (process.getuid?.() !== 0 || !which('apt-get')) {
    throw new Error(
      `test/hosts needs ${missing.join(', ')}; install them as root, e.g.\n` +
        `  sudo apt-get update && sudo apt-get install -y ${missing.join(' ')}`,
    )
  }
  const env = { ...HOST_ENV, DEBIAN_FRONTEND: 'noninteractive' }
  const apt = (...args: string[]) =>
    run(['apt-get', '-o', 'DPkg::Lock::Timeout=120', '-y', ...args], { env, timeoutMs: 600_000 })
  await apt('update')
  if (missing.includes('nginx-light')) {
    const show = await run(['apt-cache', 'show', 'nginx-light'], { allowFail: true, env })
    if (show.exitCode !== 0) missing = missing.map((p) => (p === 'nginx-light' ? 'nginx' : p))
  }
  await withoutServiceStarts(() => apt('install', '--no-install-recommends', ...missing))
  const still = missingPackages(opts)
  if (still.length) throw new Error(`apt-get install did not provide: ${still.join(', ')}`)
}

/** Debian's policy-rc.d hook: keeps postinst scripts from starting a system-wide sshd/nginx. */
async function withoutServiceStarts<T>(fn: () => Promise<T>): Promise<T> {
  const policy = '/usr/sbin/policy-rc.d'
  if (existsSync(policy)) return fn()
  writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 })
  try {
    return await fn()
  } finally {
    rmSync(policy, { force: true })
  }
}
