/**
 * `dry-run: true`: connect to every host, check what a deploy needs, and plan, changing nothing.
 * Every host is checked even when others fail, so one run lists every problem.
 */
import { errorMessage, messageWithoutHost } from '../common/errors.js'
import { watchApplies, type HostAddress, type Settings } from '../inputs/settings.js'
import type { HostLogs } from '../report/log.js'
import { forEachParallel } from '../common/parallel.js'
import { assetSources, planHost, type HostPlan } from '../deploy/plan.js'
import { hostProblems, portNotes, preflightProblems } from './host-checks.js'
import { slotManager } from '../deploy/slot-ops.js'
import type { HostCheck, HostRole } from '../report/model.js'
import { layout } from '../remote/layout.js'
import { parseProbe, probeCommand } from '../remote/probe.js'
import { canaryEvidence, NGINX_CONFIG_DIR, readsLog, type GateInputs } from '../canary/evidence.js'
import { canaryEvidenceProbe } from '../remote/commands/canary.js'
import { nginxCommands } from '../nginx/upstream-file.js'
import { checkUpstreamWritable, testNginx } from '../remote/commands/nginx.js'
import {
  detectProcessManager,
  parseProcessManagerFacts,
  resolveProcessManager,
  type ResolvedProcessManager,
} from '../remote/commands/process-manager.js'
import { cmd, userCommandArgv } from '../remote/shell.js'
import { EMPTY_STATE, parseState, type HostState } from '../remote/state.js'
import { RemoteHost, type SshOptions } from '../ssh/connection.js'
import { connectJumpHost } from '../ssh/jump-host.js'
import { sshOptionsFrom } from '../ssh/options.js'

export async function dryRun(
  settings: Settings,
  version: string,
  logs: HostLogs,
): Promise<HostCheck[]> {
  const options = sshOptionsFrom(settings)
  let jumpHost: RemoteHost | undefined
  try {
    jumpHost = await connectJumpHost(settings)
  } catch (error) {
    const problem = `jump host ${settings.ssh.proxyJump?.label}: ${errorMessage(error)}`
    return [...settings.hosts, ...settings.workers.hosts].map((h) => ({
      host: h.label,
      problems: [problem],
    }))
  }
  const targets = [
    ...settings.hosts.map((address) => ({ address, role: 'web' as const })),
    ...settings.workers.hosts.map((address) => ({ address, role: 'worker' as const })),
  ]
  try {
    return await forEachParallel(targets, settings.ssh.maxParallel, ({ address, role }) =>
      checkHost(settings, version, address, role, options, jumpHost, logs).catch(
        (error): HostCheck => ({ host: address.label, problems: [messageWithoutHost(error)] }),
      ),
    )
  } finally {
    jumpHost?.dispose()
  }
}

async function checkHost(
  settings: Settings,
  version: string,
  address: HostAddress,
  role: HostRole,
  options: SshOptions,
  via: RemoteHost | undefined,
  logs: HostLogs,
): Promise<HostCheck> {
  const host = await RemoteHost.connect(address, options, { via, log: logs.sinkFor(address.label) })
  try {
    const { name } = settings.app
    const l = layout(settings.app.deployPath)
    const manager = await processManagerOf(settings, host, address.user)
    const slots = slotManager(
      settings,
      manager.manager === 'systemd' ? 'systemd' : 'builtin',
      l,
      address.user,
    )
    const probe = await host.exec(
      probeCommand(l, {
        app: name,
        ports: { blue: settings.slots.bluePort, green: settings.slots.greenPort },
        members: { blue: slots.members('blue'), green: slots.members('green') },
      }),
      { step: 'probe' },
    )
    const facts = parseProbe(probe.stdout)
    let state = EMPTY_STATE
    const stateProblems: string[] = []
    try {
      state = parseState(facts.stateJson, l.state)
    } catch (error) {
      stateProblems.push(errorMessage(error))
    }
    const plan = planHost(settings, host.name, state, version)
    if (role === 'worker') {
      const problems = [...hostProblems(settings, address.user, facts, role), ...stateProblems]
      if (manager.manager === 'error') problems.push(manager.reason)
      return { host: host.name, problems, notes: workerHostNotes(settings, state, version) }
    }
    const nginxTest = await host.tryExec(testNginx(nginxCommands(settings)), {
      step: 'nginx test',
      timeoutMs: 30_000,
    })
    // `sudo -l <command>` asks whether sudo would run the reload as the deploy will, so it works
    // with sudoers that allow exactly the nginx commands (README "Host setup").
    const reloadArgv = userCommandArgv(settings.nginx.reloadCommand)
    const sudo = settings.sudo
      ? await host.tryExec(cmd('sudo', '-n', '-l', ...reloadArgv), {
          step: 'sudo check',
          timeoutMs: 10_000,
        })
      : undefined
    const { upstreamFile } = settings.nginx
    const upstream = await host.tryExec(checkUpstreamWritable(upstreamFile, settings.sudo), {
      step: 'upstream file check',
      timeoutMs: 10_000,
    })
    const siteFile = settings.site.serverNames.length > 0 ? settings.site.file : undefined
    const site =
      siteFile === undefined
        ? undefined
        : await host.tryExec(checkUpstreamWritable(siteFile, settings.sudo), {
            step: 'site file check',
            timeoutMs: 10_000,
          })
    const problems = preflightProblems(settings, address.user, facts, plan.targetSlot, {
      nginxTest: { command: settings.nginx.testCommand, ...nginxTest },
      sudo: sudo && { command: `sudo -n ${reloadArgv.join(' ')}`, ...sudo },
      upstream: { command: `sudo -n tee ${upstreamFile}`, ...upstream },
      site: site && { command: `sudo -n tee ${siteFile ?? ''}`, ...site },
    })
    if (manager.manager === 'error') problems.push(manager.reason)
    problems.push(...stateProblems)
    const notes = [
      ...(settings.app.processManager === 'auto' && manager.manager !== 'error'
        ? [`process-manager auto: ${manager.manager} (${manager.reason})`]
        : []),
      ...portNotes(facts, plan.targetSlot),
      ...assetNotes(settings, state, version, plan),
    ]
    const judged = judgedBy(settings)
    const canary = judged && { ...(await evidenceCheck(settings, host, judged)), for: judged }
    if (canary?.blocking) problems.push(`${judged}: ${canary.why}`)
    return { host: host.name, plan, problems, canary, notes }
  } finally {
    host.dispose()
  }
}

/**
 * Whose windows of real traffic the run judges, for the evidence check: the canary's, or the
 * watch's (the one that reads the access log, when both would run).
 */
function judgedBy(settings: Settings): GateInputs | undefined {
  const gates: GateInputs[] = [
    ...(settings.strategy === 'canary' ? (['canary'] as const) : []),
    ...(watchApplies(settings) ? (['watch'] as const) : []),
  ]
  return gates.find((g) => readsLog(settings[g])) ?? gates[0]
}

/** Whether a canary (or a watch) will have access log evidence on this host (README: Canary). */
async function evidenceCheck(settings: Settings, host: RemoteHost, judged: GateInputs) {
  const { bluePort, greenPort } = settings.slots
  const probe = canaryEvidenceProbe(
    settings.canary.accessLog,
    settings.app.name,
    [bluePort, greenPort],
    NGINX_CONFIG_DIR,
  )
  const { stdout } = await host.exec(probe, { step: `${judged} evidence check` })
  return canaryEvidence(stdout, settings, judged)
}

/** The process manager a deploy would use on this host (auto asks the host). */
async function processManagerOf(
  settings: Settings,
  host: RemoteHost,
  user: string,
): Promise<ResolvedProcessManager> {
  const { processManager, name } = settings.app
  if (processManager !== 'auto') return { manager: processManager, reason: 'as set' }
  const { stdout } = await host.exec(detectProcessManager(name, settings.sudo), {
    step: 'process manager',
  })
  return resolveProcessManager(parseProcessManagerFacts(stdout), name, user)
}

/**
 * What asset-path would bridge (the releases kept by state.json's history stand in for the
 * release directories, which the probe does not list).
 */
function assetNotes(
  settings: Settings,
  state: HostState,
  version: string,
  plan: HostPlan,
): string[] {
  const folders = settings.app.assetPaths
  if (folders.length === 0) return []
  const recorded = [...state.history.map((r) => r.version)]
  const sources = assetSources(state, version, plan.targetSlot, recorded, settings.app.keepReleases)
  const from = sources.length === 0 ? 'no kept release' : sources.join(', ')
  const live =
    plan.liveVersion === null || plan.liveVersion === version
      ? ''
      : `; ${plan.liveVersion} (live) would get ${version}'s before the first reload`
  return [
    `asset-path ${folders.join(', ')}: ${version} would get the files of ${from} as hard links${live}`,
  ]
}

/** What a deploy would do on a worker host: its workers, and the ones they replace. */
function workerHostNotes(settings: Settings, state: HostState, version: string): string[] {
  const names = settings.workers.commands.map((w) => w.name).join(', ')
  const live = state.workers
  const now = live ? `${live.version} (${live.names.join(', ')})` : 'none'
  return [
    `worker host: would ship ${version} and run its workers (${names || 'none'}); running now: ${now}`,
  ]
}
