/**
 * cgroup v2 directories for lab hosts that run systemd. Each such host gets its own cgroup,
 * named like its netns (`dzd-<lab id>-<host>`), created under the test process's own cgroup v2 (on a hybrid machine
 * /sys/fs/cgroup/unified/...); its systemd sees it as the root of a cgroup namespace and never
 * sees or touches anything above it.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { sleepSync } from './exec.js'

/** The test process's cgroup v2 directory, or undefined when no cgroup2 is mounted. */
export function ownCgroup2Dir(): string | undefined {
  const mount = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .find((f) => f[f.indexOf('-') + 1] === 'cgroup2')
  if (!mount) return undefined
  const own = /^0::(\/.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1] ?? '/'
  return join(mount[4]!, own)
}

/** Creates the cgroup `name` (empty, idempotent) and returns its path. */
export function createHostCgroup(name: string): string {
  const parent = ownCgroup2Dir()
  if (!parent) {
    throw new Error('test/hosts: systemd hosts need cgroup v2 (no cgroup2 file system is mounted)')
  }
  const dir = join(parent, name)
  mkdirSync(dir, { recursive: true })
  return dir
}

/**
 * Removes the cgroups whose names `match`, deepest first, once their processes are gone (killed
 * just before; retried briefly while the kernel finishes them). Best-effort, sync.
 */
export function removeHostCgroups(match: (name: string) => boolean): void {
  const parent = ownCgroup2Dir()
  if (!parent || !existsSync(parent)) return
  for (const name of readdirSync(parent).filter(match)) {
    for (let round = 0; round < 50; round++) {
      try {
        removeTree(join(parent, name))
        break
      } catch {
        sleepSync(20)
      }
    }
  }
}

function removeTree(dir: string): void {
  for (const entry of readdirSync(dir)) {
    const child = join(dir, entry)
    if (statSync(child).isDirectory()) removeTree(child)
  }
  rmdirSync(dir)
}
