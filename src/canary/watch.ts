/**
 * The watch after a switch (`watch`): the new version's real traffic is judged for `watch` as a
 * window (window.ts: health, the access logs' 5xx rate and p99 against watch-max-error-rate and
 * watch-max-latency once watch-min-requests came in, and watch-check-command on the runner every
 * health-interval), while the previous slot stays warm: drained of traffic, still running.
 *
 * A watched host's switch is recorded in state.json only once the watch passed, so a run killed
 * mid-watch is repaired by the post step like one killed mid-canary (nginx back on the slot
 * state.json names, the new slot drained and stopped). A breach, or a watch without evidence,
 * switches every watched host back at once (one reload each, then the new slot drained and
 * stopped) and fails the run; the version never went live there, so a fixed rerun of it deploys.
 */
import * as core from '@actions/core'
import { errorMessage, lastLines } from '../common/errors.js'
import { bestEffort, onEachHost, type DeployContext } from '../deploy/context.js'
import type { HostDeploy } from '../deploy/host-deploy.js'
import { timed } from '../deploy/timing.js'
import { watchApplies } from '../inputs/settings.js'
import { shellOnRunner } from '../release/build.js'
import { newWindow } from '../report/model.js'
import { ReleaseRejected } from './bake.js'
import { judgeWindow } from './window.js'

/** The watch found the new version wanting (or had no evidence); the hosts went back. */
export class WatchBreached extends ReleaseRejected {}

/**
 * The hosts of `hosts` that a watch judges: those with a previous slot to go back to (none on a
 * first deploy), when the run watches at all. Their switch waits for the watch to be recorded.
 */
export function watchedHosts(ctx: DeployContext, hosts: HostDeploy[]): HostDeploy[] {
  if (!watchApplies(ctx.settings)) return []
  return hosts.filter((h) => h.plan.liveSlot !== null)
}

/**
 * Watches `hosts`, which just switched to the new version (those of watchedHosts, with their
 * record deferred), then records their switch. A breach switches them back and throws
 * WatchBreached. `label` names the watch in the summary (a rolling batch).
 */
export async function watchThenRecord(
  ctx: DeployContext,
  hosts: HostDeploy[],
  label = 'watch',
): Promise<void> {
  const watched = watchedHosts(ctx, hosts)
  if (watched.length === 0) {
    if (watchApplies(ctx.settings) && hosts.length > 0) {
      core.info(`Watch: nothing to switch back to on ${names(hosts)} (first deploy): not watched`)
    }
    return
  }
  const { watch } = ctx.settings
  const record = newWindow(label)
  ctx.watches.push(record)
  const fresh = hosts.filter((h) => !watched.includes(h))
  if (fresh.length > 0) {
    core.info(`Watch: ${names(fresh)} had no previous version (first deploy): not watched`)
  }
  try {
    await timed(ctx.phases, 'watch', () =>
      judgeWindow(ctx, watched, {
        title: label === 'watch' ? 'Watch' : `Watch (${label})`,
        inputs: 'watch',
        gate: watch,
        durationMs: watch.durationMs,
        durationInput: 'watch',
        record,
        ...(watch.checkCommand ? { eachInterval: () => runWatchCheck(ctx, watched) } : {}),
      }),
    )
  } catch (error) {
    throw await switchBack(ctx, watched, error)
  }
  await onEachHost(
    ctx,
    'record',
    watched,
    async (h) => {
      await h.recordSwitch()
      return `watch passed; ${h.version} is live on ${h.plan.targetSlot}`
    },
    'record',
  )
}

/**
 * After a breach: every watched host back on its previous slot at once (the switch back drains
 * and stops the new slot), except where nginx could not be put back: there the new slot keeps
 * running. Returns the run's error, saying which.
 */
async function switchBack(
  ctx: DeployContext,
  watched: HostDeploy[],
  error: unknown,
): Promise<WatchBreached> {
  const back = await bestEffort(
    ctx.logs,
    'watch breached: back to the previous version',
    watched,
    (h) => h.switchBack(false),
  )
  const stuck = watched.filter((h) => !back.includes(h))
  const serving = [...new Set(back.map((h) => h.plan.liveVersion))].join(', ')
  const outcome =
    stuck.length === 0
      ? `Every watched host is back on the previous version (${serving}), kept warm during the watch; the new slots were drained and stopped. ${ctx.version} was not recorded as live: a fixed rerun of it deploys.`
      : `${names(stuck)} could not be switched back and still serve ${ctx.version} (see the warnings); the post step tries again. Fix nginx there and rerun the deploy.`
  return new WatchBreached(`Watch breached: ${errorMessage(error)}\n${outcome}`, { cause: error })
}

/**
 * watch-check-command on the runner (e.g. a query of the team's metrics), with APP_VERSION (the
 * new version), PREVIOUS_VERSION and DEPLOY_HOSTS (the watched hosts, space-separated). Its
 * output is shown only when it fails, so a check every second does not flood the log.
 */
async function runWatchCheck(ctx: DeployContext, watched: HostDeploy[]): Promise<void> {
  const command = ctx.settings.watch.checkCommand
  let output = ''
  const env = {
    ...(process.env as Record<string, string>),
    APP_VERSION: ctx.version,
    PREVIOUS_VERSION: watched[0]?.plan.liveVersion ?? '',
    DEPLOY_HOSTS: watched.map((h) => h.name).join(' '),
  }
  const keep = (data: Buffer) => (output = `${output}${data.toString()}`.slice(-4000))
  const code = await shellOnRunner('watch-check-command', command, {
    env,
    silent: true,
    ignoreReturnCode: true,
    listeners: { stdout: keep, stderr: keep },
  })
  if (code === 0) return
  const said = lastLines(output, 10)
  throw new Error(`watch-check-command exited ${code}${said ? `:\n${said}` : ''}`)
}

function names(hosts: HostDeploy[]): string {
  return hosts.map((h) => h.name).join(', ')
}
