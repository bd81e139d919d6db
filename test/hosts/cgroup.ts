/**
 * cgroup v2 directories for lab hosts that run systemd. Each such host gets its own cgroup,
 * named like its netns (`dzd-<lab id>-<host>`), created under the test process's own cgroup v2 (on a hybrid machine
 * /sys/fs/cgroup/unified/...); its systemd sees it as the root of a cgroup namespace and never
 * sees or touches anything above it.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { sleepSync } from './exec.js'

/** The test process's cgroup v2: its path in the hierarchy, and its directory here. */
function ownCgroup2(): { path: string; dir: string } | undefined {
  const mount = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .find((f) => f[f.indexOf('-') + 1] === 'cgroup2')
  if (!mount) return undefined
  const path = /^0::(\/.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1] ?? '/'
  return { path, dir: join(mount[4]!, path) }
}

export const ownCgroup2Dir = (): string | undefined => ownCgroup2()?.dir

/**
 * Creates the cgroup `name` (empty, idempotent) below the test process's own. Returns its path in
 * the cgroup2 hierarchy, as a cgroup2 mounted in the test process's cgroup namespace shows it.
 */
export function createHostCgroup(name: string): string {
  const own = ownCgroup2()
  if (!own) {
    throw new Error('test/hosts: systemd hosts need cgroup v2 (no cgroup2 file system is mounted)')
  }
  mkdirSync(join(own.dir, name), { recursive: true })
  return join(own.path, name)
}

/**
 * Removes the cgroups whose names `match`, deepest first, once their processes are gone (killed
 * just before; retried for up to 5 s while the kernel finishes them). Best-effort, sync.
 */
export function removeHostCgroups(match: (name: string) => boolean): void {
  const parent = ownCgroup2Dir()
  if (!parent || !existsSync(parent)) return
  for (const name of readdirSync(parent).filter(match)) {
    for (let round = 0; round < 100; round++) {
      try {
        removeTree(join(parent, name))
        break
      } catch {
        sleepSync(50)
      }
    }
  }
}

/** Ids of labs that left host cgroups behind (for gcLabs). */
export function labIdsWithCgroups(): string[] {
  const parent = ownCgroup2Dir()
  if (!parent || !existsSync(parent)) return []
  return readdirSync(parent).flatMap((name) => /^dzd-([0-9a-f]{6})-/.exec(name)?.[1] ?? [])
}

function removeTree(dir: string): void {
  for (const entry of readdirSync(dir)) {
    const child = join(dir, entry)
    if (statSync(child).isDirectory()) removeTree(child)
  }
  rmdirSync(dir)
}
