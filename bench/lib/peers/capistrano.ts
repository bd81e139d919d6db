/**
 * Capistrano 3, set up as `cap install` lays it out and its docs show: Capfile with the git SCM
 * plugin, config/deploy.rb (repo_url, deploy_to, keep_releases, ssh_options) and
 * config/deploy/production.rb (one server). It clones the repo on the host, extracts a release,
 * switches the `current` symlink; the restart is a task `after :publishing` (Capistrano has none
 * of its own) that stops the old process and starts the new one on the same port.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Lab, LabHost } from '../../../test/hosts/index.js'
import { timedCommand } from '../command.js'
import { addPortSite } from '../sites.js'
import { createAppRepo } from './git-repo.js'
import { restartCommand } from './restart.js'
import type { Peer } from './types.js'
import { tempDir } from '../tmp.js'

const DEPLOY_TO = '/srv/capistrano'
const PORT = 3000

const capfile = `require "capistrano/setup"
require "capistrano/deploy"
require "capistrano/scm/git"
install_plugin Capistrano::SCM::Git
Dir.glob("lib/capistrano/tasks/*.rake").each { |r| import r }
`

const deployRb = (lab: Lab, repo: string) => `lock "~> 3.17"
set :application, "shop"
set :repo_url, "${repo}"
set :branch, "main"
set :deploy_to, "${DEPLOY_TO}"
set :keep_releases, 5
set :ssh_options, {
  keys: ["${lab.privateKeyPath}"],
  user_known_hosts_file: "${lab.knownHostsPath}",
  verify_host_key: :always,
  auth_methods: %w[publickey],
  config: false,
}

namespace :deploy do
  desc "Restart the app: stop the old process, start the new release on the same port"
  task :restart do
    on roles(:app) do
      execute ${JSON.stringify(restartCommand(DEPLOY_TO, PORT))}
    end
  end
  after :publishing, :restart
end
`

export async function capistranoPeer(
  lab: Lab,
  host: LabHost,
  version: string,
  release?: (version: string) => string,
): Promise<Peer> {
  const repo = await createAppRepo(host, {}, release)
  const dir = tempDir('capistrano')
  mkdirSync(join(dir, 'config/deploy'), { recursive: true })
  mkdirSync(join(dir, 'lib/capistrano/tasks'), { recursive: true })
  writeFileSync(join(dir, 'Capfile'), capfile)
  writeFileSync(join(dir, 'config/deploy.rb'), deployRb(lab, repo.hostPath))
  writeFileSync(
    join(dir, 'config/deploy/production.rb'),
    `server "${host.ssh.host}", port: ${host.ssh.port}, user: "root", roles: %w[app web]\n`,
  )
  return {
    name: `Capistrano ${version}`,
    setup:
      'git SCM (bare repo on the host), symlink switch, restart task after :publishing (stop old, start new on one port)',
    deploy: async (v) => {
      await repo.commit(v)
      return (await timedCommand(dir, ['cap', 'production', 'deploy'])).ms
    },
    serve: () => addPortSite(host, PORT, true),
  }
}
