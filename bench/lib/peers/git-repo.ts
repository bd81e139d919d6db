/**
 * The app's git repository for the peers that deploy from git: a bare repo on the test host's own
 * filesystem (/srv/git/app.git inside the host), fed from a work tree on the runner. Each version
 * is one commit on `main` with the sample app's release files (and any extra files, e.g. a pm2
 * ecosystem file). `release` makes a version's files (default: the sample app as it is).
 */
import { cpSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeRelease } from '../../../test/deploy-fixture.js'
import type { LabHost } from '../../../test/hosts/index.js'
import { run } from '../../../test/hosts/exec.js'
import { tempDir } from '../tmp.js'

/** Where the bare repo is inside the host. */
export const REPO_HOST_PATH = '/srv/git/app.git'

export interface AppRepo {
  /** Path of the bare repo inside the host. */
  hostPath: string
  /** The same repo, seen from the runner. */
  runnerPath: string
  /** The work tree on the runner (a clean checkout of main after each commit). */
  work: string
  /** Commits the sample app reporting `version` on main and pushes it. */
  commit(version: string): Promise<void>
}

export async function createAppRepo(
  host: LabHost,
  extraFiles: Record<string, string> = {},
  release: (version: string) => string = makeRelease,
): Promise<AppRepo> {
  const hostPath = REPO_HOST_PATH
  const runnerPath = join(host.dir, hostPath)
  const work = tempDir(`repo-${host.name}`)
  const git = (...args: string[]) =>
    run(['git', '-C', work, '-c', 'user.name=bench', '-c', 'user.email=bench@localhost', ...args])
  await run(['git', 'init', '-q', '--bare', '-b', 'main', runnerPath])
  await git('init', '-q', '-b', 'main')
  await git('remote', 'add', 'origin', runnerPath)
  return {
    hostPath,
    runnerPath,
    work,
    commit: async (version) => {
      cpSync(release(version), work, { recursive: true })
      for (const [name, text] of Object.entries(extraFiles)) writeFileSync(join(work, name), text)
      await git('add', '-A')
      await git('commit', '-q', '-m', version)
      await git('push', '-q', 'origin', 'main')
    },
  }
}
