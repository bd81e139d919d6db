/**
 * `process-manager: auto`, resolved per host: systemd units where systemd runs the host and the
 * login user may manage the units (root, or `sudo: true` with the README's sudoers lines), else the
 * built-in manager (a supervisor per slot). A host whose unit file is installed keeps its slots
 * under systemd, so that two managers never run the same slot.
 */
import { script, type Shell } from '../shell.js'
import { unitFilePath, unitName } from './systemd.js'

export interface ProcessManagerFacts {
  /** /run/systemd/system exists (sd_booted()). */
  systemd: boolean
  uid: number | undefined
  /** The template unit `<app>@.service` is installed. */
  unitInstalled: boolean
  /** `sudo -n -l` allows `systemctl enable --now --quiet <app>@blue` (asked only with sudo: true). */
  sudoSystemctl: boolean
}

/** One read-only command: what `auto` needs to know about a host. */
export function detectProcessManager(app: string, sudo: boolean): Shell {
  return script(
    `[ -d /run/systemd/system ] || { echo systemd=no; exit 0; }
echo systemd=yes
echo "uid=$(id -u)"
[ -f "$1" ] && echo unit=yes
if [ "$3" = yes ] && [ "$(id -u)" != 0 ]; then
  PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
  sudo -n -l systemctl enable --now --quiet "$2" >/dev/null 2>&1 && echo sudo-systemctl=yes
fi
exit 0`,
    unitFilePath(app),
    unitName(app, 'blue'),
    sudo ? 'yes' : 'no',
  )
}

export function parseProcessManagerFacts(output: string): ProcessManagerFacts {
  const lines = new Set(output.split('\n').map((line) => line.trim()))
  const uid = [...lines].find((line) => /^uid=\d+$/.test(line))
  return {
    systemd: lines.has('systemd=yes'),
    uid: uid === undefined ? undefined : Number(uid.slice(4)),
    unitInstalled: lines.has('unit=yes'),
    sudoSystemctl: lines.has('sudo-systemctl=yes'),
  }
}

export type ResolvedProcessManager =
  { manager: 'builtin' | 'systemd'; reason: string } | { manager: 'error'; reason: string }

/** What `auto` means on a host with these facts, and why (for the log and dry-run). */
export function resolveProcessManager(
  facts: ProcessManagerFacts,
  app: string,
  user: string,
): ResolvedProcessManager {
  if (!facts.systemd) {
    return { manager: 'builtin', reason: 'systemd does not run this host' }
  }
  if (facts.uid === 0) {
    return { manager: 'systemd', reason: `systemd runs this host and ${user} is root` }
  }
  if (facts.sudoSystemctl) {
    return {
      manager: 'systemd',
      reason: `systemd runs this host and sudo lets ${user} manage the units`,
    }
  }
  if (facts.unitInstalled) {
    return {
      manager: 'error',
      reason: `process-manager auto: ${unitFilePath(app)} is installed, so this app's slots run as systemd units, but ${user} may not manage them (root, or sudo: true with the sudoers lines of README "process-manager"). Allow it, or set process-manager: builtin after stopping the units (systemctl disable --now ${unitName(app, 'blue')} ${unitName(app, 'green')}). Nothing was changed.`,
    }
  }
  return {
    manager: 'builtin',
    reason: `${user} may not manage systemd units (not root, and sudo does not allow systemctl for them)`,
  }
}
