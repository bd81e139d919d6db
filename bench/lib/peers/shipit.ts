/**
 * shipit-deploy, set up as its README shows: a shipitfile.js with `require('shipit-deploy')(shipit)`,
 * workspace + shallowClone, repositoryUrl, deployTo, keepReleases, key, one server; `shipit
 * production deploy` fetches the repo on the runner, rsyncs it into a new release dir on the host
 * and switches `current`. The restart is a task on the `published` event (shipit has none of its
 * own): stop the old process, start the new one on the same port.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Lab, LabHost } from '../../../test/hosts/index.js'
import { timedCommand } from '../command.js'
import { addPortSite } from '../sites.js'
import { createAppRepo } from './git-repo.js'
import { restartCommand } from './restart.js'
import type { Peer } from './types.js'
import { tempDir } from '../tmp.js'

const DEPLOY_TO = '/srv/shipit'
const PORT = 3000

const shipitfile = (lab: Lab, host: LabHost, repo: string, workspace: string) => `
module.exports = (shipit) => {
  require('shipit-deploy')(shipit)

  shipit.initConfig({
    default: {
      workspace: ${JSON.stringify(workspace)},
      deployTo: ${JSON.stringify(DEPLOY_TO)},
      repositoryUrl: ${JSON.stringify(repo)},
      branch: 'main',
      ignores: ['.git', 'node_modules'],
      keepReleases: 5,
      keepWorkspace: false,
      shallowClone: true,
      key: ${JSON.stringify(lab.privateKeyPath)},
      strict: 'yes',
    },
    production: {
      servers: [
        {
          user: 'root',
          host: ${JSON.stringify(host.ssh.host)},
          port: ${host.ssh.port},
          extraSshOptions: { UserKnownHostsFile: ${JSON.stringify(lab.knownHostsPath)}, BatchMode: 'yes' },
        },
      ],
    },
  })

  shipit.blTask('restart', async () => {
    await shipit.remote(${JSON.stringify(restartCommand(DEPLOY_TO, PORT))})
  })
  shipit.on('published', () => shipit.start('restart'))
}
`

export async function shipitPeer(
  lab: Lab,
  host: LabHost,
  bin: string,
  version: string,
  release?: (version: string) => string,
): Promise<Peer> {
  const repo = await createAppRepo(host, {}, release)
  const dir = tempDir('shipit')
  const workspace = join(dir, 'workspace')
  writeFileSync(join(dir, 'shipitfile.js'), shipitfile(lab, host, repo.runnerPath, workspace))
  const env = { ...process.env, NODE_PATH: join(bin, '../..') }
  return {
    name: `shipit-deploy ${version}`,
    setup:
      'shipitfile as in its README (shallowClone workspace on the runner, rsync to the host), symlink switch, restart task on `published` (stop old, start new on one port)',
    deploy: async (v) => {
      await repo.commit(v)
      const argv = [bin, 'production', 'deploy', '--shipitfile', 'shipitfile.js']
      return (await timedCommand(dir, argv, env)).ms
    },
    serve: () => addPortSite(host, PORT, true),
  }
}
