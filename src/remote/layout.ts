/** Where things live under the deploy path on a host (DESIGN.md "On the host"). Pure. */
import type { Slot } from './state.js'

export interface Layout {
  root: string
  releases: string
  /** Symlink to the live release. */
  current: string
  sharedEnv: string
  /** Copies of shared/.env from before each change the action made to it (never overwritten). */
  envBackups: string
  logs: string
  /** The action's own files: state, lock, pidfiles, uploads, backups. */
  meta: string
  state: string
  lock: string
  incoming: string
  upstreamBackup: string
  /** The same for the upstream file on a load balancer. */
  lbUpstreamBackup: string
  /** The managed site file (`nginx-site`) from before the run's change to it. */
  siteBackup: string
  release(version: string): string
  slotLog(slot: Slot): string
  pidfile(slot: Slot): string
}

export function layout(root: string): Layout {
  const meta = `${root}/.deploy`
  return {
    root,
    releases: `${root}/releases`,
    current: `${root}/current`,
    sharedEnv: `${root}/shared/.env`,
    envBackups: `${meta}/env-backups`,
    logs: `${root}/logs`,
    meta,
    state: `${meta}/state.json`,
    lock: `${meta}/lock`,
    incoming: `${meta}/incoming`,
    upstreamBackup: `${meta}/upstream.bak`,
    lbUpstreamBackup: `${meta}/lb-upstream.bak`,
    siteBackup: `${meta}/site.bak`,
    release: (version) => `${root}/releases/${version}`,
    slotLog: (slot) => `${root}/logs/${slot}.log`,
    pidfile: (slot) => `${meta}/${slot}.pid`,
  }
}
