/**
 * The access log that tells how a new version serves real traffic (a canary's steps, the watch
 * after a switch), as the app's include writes it (pure): which file, for which ports, and the
 * line a site with an `access_log` of its own adds to write it too. The format is the include's
 * `log_format <app>_canary` (render.ts).
 */
import { watchApplies, type Settings } from '../inputs/settings.js'

/**
 * The log the include writes on app hosts while the run may judge the new slot (strategy canary,
 * or a watch): the canary-access-log, for requests to either slot. Undefined otherwise.
 */
export function evidenceLogSpec(settings: Settings): { path: string; ports: number[] } | undefined {
  if (settings.strategy !== 'canary' && !watchApplies(settings)) return undefined
  return {
    path: settings.canary.accessLog,
    ports: [settings.slots.bluePort, settings.slots.greenPort],
  }
}

/** The line that makes a server with its own `access_log` write the evidence log too. */
export function evidenceLogLine(settings: Pick<Settings, 'canary' | 'app'>): string {
  return `access_log ${settings.canary.accessLog} ${settings.app.name}_canary;`
}
