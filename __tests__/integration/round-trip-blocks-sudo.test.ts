/**
 * The switch block as a non-root login with exactly the README's sudoers lines, in the tighter
 * setup (the user owns nothing under /etc/nginx): the file goes through `sudo -n tee`, nginx -t
 * and the reload through `sudo -n nginx ...`, and a failed test puts the file from before back
 * through tee, byte for byte. Hosts that run systemd, where tests may add users and sudoers.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { parseSwitch, switchUpstream, SWITCH_FAILED } from '../../src/remote/commands/switch.js'
import { layout } from '../../src/remote/layout.js'
import { RemoteHost } from '../../src/ssh/connection.js'
import { parseKnownHosts } from '../../src/ssh/known-hosts.js'
import { startLab, type Lab, type LabHost } from '../../test/hosts/index.js'
import { readmeBlock } from '../../test/readme.js'

const UPSTREAM = '/etc/nginx/conf.d/shop.upstream.conf'
const l = layout('/srv/shop')
const BEFORE = '# from before the run\nupstream shop { server 127.0.0.1:1 down; }\n'

let lab: Lab
let labHost: LabHost
let host: RemoteHost

beforeAll(async () => {
  lab = await startLab({ hosts: 1, name: 'rt-blocks-sudo', systemd: true })
  labHost = lab.hosts[0]!
  await labHost.sh(`set -e
echo 'deploy:x:1500:1500:deploy:/srv:/bin/sh' >> /etc/passwd
echo 'deploy:*:19000:0:99999:7:::' >> /etc/shadow
echo 'deploy:x:1500:' >> /etc/group
install -d -o deploy -g deploy /srv/shop /srv/shop/.deploy
cat > /etc/sudoers.d/deploy-nginx <<'SUDOERS'
${readmeBlock('sudoers-nginx')}${readmeBlock('sudoers-nginx-upstream')}SUDOERS
chmod 440 /etc/sudoers.d/deploy-nginx
visudo -cq`)
  host = await RemoteHost.connect(
    { user: 'deploy', host: labHost.address, port: 22, label: labHost.name },
    {
      privateKey: lab.privateKey,
      passphrase: '',
      knownHosts: parseKnownHosts(lab.knownHosts),
      connectTimeoutMs: 10_000,
      keepaliveIntervalMs: 10_000,
    },
  )
}, 120_000)

afterAll(async () => {
  host?.dispose()
  await lab?.stop()
})

const upstream = (extra = '') =>
  `# written by the switch block\nupstream shop { server 127.0.0.1:80; }\nserver { listen 127.0.0.1:8099; location / { proxy_pass http://shop; add_header X-Deploy-Upstream $upstream_addr always; } }\n${extra}`

const spec = (content: string) =>
  switchUpstream({
    stage: 'all',
    file: UPSTREAM,
    backup: l.upstreamBackup,
    backupMode: 'take',
    nginx: { test: 'nginx -t', reload: 'nginx -s reload', sudo: true },
    verify: {
      port: 8099,
      path: '/_lab/ping',
      expected: ['127.0.0.1:80'],
      timeoutMs: 5000,
      header: 'x-deploy-upstream',
    },
    content,
  })

it('switches through sudo -n tee and sudo -n nginx, as the README sudoers allow', async () => {
  await labHost.sh(`printf '%s' '${BEFORE}' > ${UPSTREAM} && nginx -s reload`)
  const result = await host.tryExec(spec(upstream()), { step: 'switch' })
  expect(result.exitCode, result.stdout + result.stderr).toBe(0)
  expect(parseSwitch(result.stdout)).toMatchObject({
    ok: true,
    steps: ['install', 'test', 'reload', 'verify'],
  })
  expect((await labHost.sh(`cat ${UPSTREAM}; stat -c %U ${UPSTREAM}`)).stdout).toBe(
    `${upstream()}root\n`,
  )
})

it('puts the file from before back through sudo -n tee when nginx -t fails', async () => {
  await labHost.sh(`printf '%s' '${BEFORE}' > ${UPSTREAM} && nginx -s reload`)
  const result = await host.tryExec(spec(upstream('not_a_directive on;\n')), { step: 'switch' })
  expect(result.exitCode).toBe(SWITCH_FAILED)
  expect(parseSwitch(result.stdout)).toMatchObject({
    failedStep: 'test',
    restored: true,
    reloaded: false,
  })
  expect(result.stderr).toContain('unknown directive "not_a_directive"')
  expect((await labHost.sh(`cat ${UPSTREAM}; stat -c %U ${UPSTREAM}`)).stdout).toBe(
    `${BEFORE}root\n`,
  )
})
