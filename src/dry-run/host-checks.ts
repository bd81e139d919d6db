/** Checks that a host can take a deploy, from what the probe found (pure). */
import { lastLines } from '../common/errors.js'
import type { Settings } from '../inputs/settings.js'
import type { HostFacts } from '../remote/probe.js'
import { unitFilePath } from '../remote/commands/systemd.js'
import { portTakenProblem } from '../remote/commands/processes.js'
import type { Slot } from '../remote/state.js'
import type { HostRole } from '../report/model.js'

/** Results of the commands run next to the probe. */
export interface CommandCheck {
  command: string
  exitCode: number | null
  stderr: string
}

const PACKAGE_OF: Record<string, string> = {
  tar: 'tar',
  flock: 'util-linux',
  setsid: 'util-linux',
  sha256sum: 'coreutils',
  nginx: 'nginx',
}

/** Every problem that would stop a deploy on this host; empty when it is ready. */
export function preflightProblems(
  settings: Settings,
  user: string,
  facts: HostFacts,
  /** The slot the deploy would start (its port must be free, or become free, by free_port's rule). */
  targetSlot: Slot,
  checks: {
    nginxTest: CommandCheck
    sudo?: CommandCheck
    upstream?: CommandCheck
    /** With `nginx-site`: may the user (or sudo) write the site file. */
    site?: CommandCheck
  },
): string[] {
  const problems = hostProblems(settings, user, facts)
  if (checks.sudo && checks.sudo.exitCode !== 0) {
    problems.push(
      `sudo would not run '${checks.sudo.command}' for ${user} without a password: allow it ` +
        `(see README "Host setup").${tail(checks.sudo)}`,
    )
  }
  const notWritable = (file: string, check: CommandCheck) =>
    settings.sudo
      ? `${user} may not write ${file}, and sudo would not run '${check.command}' without a password: give ${user} the file or allow that command (see README "Host setup").${tail(check)}`
      : `${user} may not write ${file}: give ${user} the file, or set sudo: true and allow '${check.command}' (see README "Host setup").`
  if (checks.upstream && checks.upstream.exitCode !== 0) {
    problems.push(notWritable(settings.nginx.upstreamFile, checks.upstream))
  }
  if (checks.site && checks.site.exitCode !== 0) {
    problems.push(notWritable(settings.site.file, checks.site))
  }
  if (checks.nginxTest.exitCode !== 0) {
    problems.push(
      `nginx-test-command '${checks.nginxTest.command}' failed (exit ${checks.nginxTest.exitCode}).${tail(checks.nginxTest)}`,
    )
  }
  const taken = portTakenProblem(facts.portUsers[targetSlot], `${targetSlot}-port`)
  if (taken !== undefined) problems.push(taken)
  return problems
}

/** What the start of `slot` would stop first on its port: the slot itself, or a leftover. */
export function portNotes(facts: HostFacts, slot: Slot): string[] {
  return facts.portUsers[slot].flatMap((u) => {
    if (u.kind === 'leftover' || u.kind === 'unit') {
      return [`${slot}-port ${u.port}: a leftover of this app would be stopped first: ${u.who}`]
    }
    return []
  })
}

/**
 * What stops a deploy on any host, a worker host too: missing tools (nginx only where the site
 * is), a deploy-path the user cannot write, systemd that is not there or not allowed.
 */
export function hostProblems(
  settings: Settings,
  user: string,
  facts: HostFacts,
  role: HostRole = 'web',
): string[] {
  const problems = facts.missingTools
    .filter((tool) => role === 'web' || tool !== 'nginx')
    .map(
      (tool) => `'${tool}' is not installed (Debian/Ubuntu package: ${PACKAGE_OF[tool] ?? tool}).`,
    )
  if (!facts.writable) {
    const path = settings.app.deployPath
    const nearest =
      facts.existingPath === path ? '' : ` (its nearest existing parent is ${facts.existingPath})`
    problems.push(`deploy-path ${path} is not writable by ${user}${nearest}.`)
  }
  problems.push(...systemdProblems(settings, user, facts))
  return problems
}

/** With process-manager systemd: systemd must run the host, and systemctl needs root or sudo. */
function systemdProblems(settings: Settings, user: string, facts: HostFacts): string[] {
  if (settings.app.processManager !== 'systemd') return []
  if (!facts.systemd) {
    return [
      'process-manager is systemd, but systemd is not running on this host (no /run/systemd/system); use process-manager: builtin.',
    ]
  }
  if (facts.uid === 0 || settings.sudo) return []
  return [
    `process-manager systemd needs root or sudo: true: ${user} cannot install ${unitFilePath(settings.app.name)} or run systemctl enable/disable (see README "process-manager: systemd").`,
  ]
}

function tail(check: CommandCheck): string {
  const text = lastLines(check.stderr, 5)
  return text ? `\n${text}` : ''
}
