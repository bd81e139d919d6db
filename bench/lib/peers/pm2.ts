/**
 * pm2 deploy + reload, set up as pm2's deployment docs show: an ecosystem file (in the repo) with
 * the app in cluster mode (2 instances, so that `reload` replaces workers one by one) and a
 * `deploy.production` section (user, host, ref, repo, path, key, ssh_options, post-deploy
 * `pm2 startOrReload`). `pm2 deploy ... setup` clones on the host once; each deploy fetches,
 * resets to origin/main and runs post-deploy on the host. `kill_timeout` 5000 follows pm2's
 * graceful-shutdown docs (the default 1.6 s would cut the 2 s slow requests).
 */
import type { Lab, LabHost } from '../../../test/hosts/index.js'
import { run } from '../../../test/hosts/exec.js'
import { timedCommand } from '../command.js'
import { addPortSite } from '../sites.js'
import { createAppRepo, REPO_HOST_PATH } from './git-repo.js'
import type { Peer } from './types.js'
import { tempDir } from '../tmp.js'

const PORT = 3000
const ECOSYSTEM = 'ecosystem.config.cjs'

/** pm2 is not on the host's PATH: the cache dir is on the same filesystem, so use it from there. */
const ecosystem = (lab: Lab, host: LabHost, repo: string, pm2: string) => `module.exports = {
  apps: [
    {
      name: 'shop',
      script: 'server.js',
      exec_mode: 'cluster',
      instances: 2,
      kill_timeout: 5000,
      env: { PORT: ${PORT} },
    },
  ],
  deploy: {
    production: {
      user: 'root',
      host: [${JSON.stringify(host.ssh.host)}],
      port: '${host.ssh.port}',
      ref: 'origin/main',
      repo: ${JSON.stringify(repo)},
      path: '/srv/pm2',
      key: ${JSON.stringify(lab.privateKeyPath)},
      ssh_options: [
        'UserKnownHostsFile=${lab.knownHostsPath}',
        'StrictHostKeyChecking=yes',
        'BatchMode=yes',
      ],
      'post-deploy': '${pm2} startOrReload ${ECOSYSTEM}',
    },
  },
}
`

export async function pm2Peer(
  lab: Lab,
  host: LabHost,
  bin: string,
  version: string,
  release?: (version: string) => string,
): Promise<Peer> {
  const file = ecosystem(lab, host, REPO_HOST_PATH, bin)
  const repo = await createAppRepo(host, { [ECOSYSTEM]: file }, release)
  // pm2 deploy runs from the project's clean work tree (it refuses uncommitted changes).
  // The local pm2 CLI starts a daemon of its own: keep it in a private PM2_HOME and kill it after.
  const home = tempDir('pm2-home')
  const env = { ...process.env, PM2_HOME: home }
  let setUp = false
  return {
    name: `pm2 ${version} deploy + reload`,
    setup:
      'ecosystem file with deploy section (git clone on the host), cluster mode 2 instances, post-deploy `pm2 startOrReload`, kill_timeout 5 s',
    deploy: async (v) => {
      await repo.commit(v)
      let ms = 0
      if (!setUp) {
        ms += (
          await timedCommand(repo.work, [bin, 'deploy', ECOSYSTEM, 'production', 'setup'], env)
        ).ms
        setUp = true
      }
      return ms + (await timedCommand(repo.work, [bin, 'deploy', ECOSYSTEM, 'production'], env)).ms
    },
    serve: () => addPortSite(host, PORT, true),
    close: async () => void (await run([bin, 'kill'], { env, allowFail: true })),
  }
}
