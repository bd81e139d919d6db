/** Where things live under the deploy path on a host (DESIGN.md "On the host"). Pure. */
import type { ProcessId } from './state.js'

export interface Layout {
  root: string
  releases: string
  /** Symlink to the live release. */
  current: string
  sharedEnv: string
  /** Copies of shared/.env from before each change the action made to it (never overwritten). */
  envBackups: string
  /** What puts back the shared/.env a run replaced, should it fail: `<run token> <backup|none>`. */
  envUndo: string
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
  /** Per release, its own files and the files linked into it in its asset folders (asset-path). */
  assets: string
  release(version: string): string
  /** The output of a slot's (or a worker's) processes. */
  slotLog(id: ProcessId): string
  /** The pid of the leader of a slot's (or a worker's) process group. */
  pidfile(id: ProcessId): string
}

export function layout(root: string): Layout {
  const meta = `${root}/.deploy`
  return {
    root,
    releases: `${root}/releases`,
    current: `${root}/current`,
    sharedEnv: `${root}/shared/.env`,
    envBackups: `${meta}/env-backups`,
    envUndo: `${meta}/env.undo`,
    logs: `${root}/logs`,
    meta,
    state: `${meta}/state.json`,
    lock: `${meta}/lock`,
    incoming: `${meta}/incoming`,
    upstreamBackup: `${meta}/upstream.bak`,
    lbUpstreamBackup: `${meta}/lb-upstream.bak`,
    siteBackup: `${meta}/site.bak`,
    assets: `${meta}/assets`,
    release: (version) => `${root}/releases/${version}`,
    slotLog: (id) => `${root}/logs/${id}.log`,
    pidfile: (id) => `${meta}/${id}.pid`,
  }
}
