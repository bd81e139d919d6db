/**
 * The site (issue 16, part 1), end to end with the bundle:
 * - the operator's own site, set up BEFORE the first deploy with the commands README "Host setup"
 *   documents (taken from the README, so the test fails when it drifts): the placeholder upstream
 *   makes `nginx -t` pass, and the first deploy replaces it and serves through that site;
 * - `nginx-site`: the action writes and owns a minimal site on a fresh host, keeps it unchanged
 *   while the inputs are, restores it when nginx -t fails, stops on a hand-edited one (drift) and
 *   never overwrites a file it did not write.
 */
import { rmSync } from 'node:fs'
import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorLine, runAction } from '../../test/action-runner.js'
import { deployInputs, makeRelease as makeReleaseDir } from '../../test/deploy-fixture.js'
import { startLab, type Lab, type LabHost } from '../../test/hosts/index.js'
import { readmeBlock } from '../../test/readme.js'

const UPSTREAM = '/etc/nginx/conf.d/shop.upstream.conf'
const SITE = '/etc/nginx/conf.d/shop.site.conf'
const MARKER = '# Managed by ssh-zero-downtime-deploy'

/** GET `path` from nginx on the host at `port`, with `Host: <serverName>`: status and body. */
function viaSite(host: LabHost, port: number, serverName: string, path = '/version') {
  return new Promise<{ status: number; body: string }>((resolve) => {
    const req = request(
      { host: host.address, port, path, headers: { host: serverName }, timeout: 3000 },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (body += chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim() }))
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', (error) => resolve({ status: 0, body: error.message }))
    req.end()
  })
}

/** What the site serves, polled until it answers `expected` (an nginx reload takes a moment). */
async function servedThrough(
  host: LabHost,
  port: number,
  serverName: string,
  expected: string,
): Promise<string> {
  let last = ''
  for (let i = 0; i < 100; i++) {
    const { status, body } = await viaSite(host, port, serverName)
    last = status === 200 ? body : `HTTP ${status}`
    if (last === expected) return last
    await new Promise((r) => setTimeout(r, 50))
  }
  return last
}

/** Release dirs this file made, removed at the end. */
const releases: string[] = []
function makeRelease(version: string): string {
  releases.push(makeReleaseDir(version))
  return releases.at(-1)!
}

afterAll(() => {
  for (const dir of releases) rmSync(dir, { recursive: true, force: true })
})

const fileOf = (host: LabHost, path: string) =>
  host.sh(`cat ${path} 2>/dev/null || echo '(none)'`).then((r) => r.stdout)

describe("the operator's site, set up before the first deploy as README Host setup says", () => {
  let lab: Lab
  let host: LabHost

  beforeAll(async () => {
    lab = await startLab({ hosts: 1, name: 'site-readme', systemd: true })
    host = lab.hosts[0]!
  })

  afterAll(async () => {
    await lab?.stop()
  })

  it('nginx -t passes with the placeholder, and the first deploy serves through the site', async () => {
    // Step 1 (adduser, authorized_keys) as the lab can do it: adduser cannot replace the
    // bind-mounted /etc/passwd, and the lab's client key is authorized already.
    await host.sh(`set -e
echo 'deploy:x:1500:1500:deploy:/srv:/bin/sh' >> /etc/passwd
echo 'deploy:*:19000:0:99999:7:::' >> /etc/shadow
echo 'deploy:x:1500:' >> /etc/group`)
    // Steps 2-4 exactly as the README writes them.
    await host.sh(`set -e\n${readmeBlock('host-setup')}`)
    await host.sh(`set -e
cat > /etc/sudoers.d/deploy-nginx <<'SUDOERS'
${readmeBlock('sudoers-nginx')}SUDOERS
chmod 440 /etc/sudoers.d/deploy-nginx
visudo -cq
mkdir -p /etc/nginx/sites-available`)
    const site = await host.sh(`set -e\n${readmeBlock('site-setup')}`, { allowFail: true })
    expect(site.stderr).toContain('test is successful')
    expect(site.exitCode).toBe(0)
    expect(await servedThrough(host, 80, 'shop.example.com', 'HTTP 502')).toBe('HTTP 502')
    const operatorSite = await fileOf(host, '/etc/nginx/sites-enabled/shop')
    expect(operatorSite).toContain('proxy_pass http://shop;')

    const asDeploy = (version: string, extra: Record<string, string> = {}) =>
      runAction(
        deployInputs(lab, [host], makeRelease(version), {
          version,
          hosts: host.address,
          'ssh-user': 'deploy',
          sudo: 'true',
          'process-manager': 'builtin',
          ...extra,
        }),
      )
    // The managed site instead would need the site file too: dry-run says so.
    const managed = await asDeploy('v1', { 'dry-run': 'true', 'nginx-site': 'shop.example.com' })
    expect(managed.main.exitCode).toBe(1)
    expect(managed.main.log).toContain(
      `[${host.address}] deploy may not write ${SITE}, and sudo would not run 'sudo -n tee ${SITE}' without a password`,
    )
    const dry = await asDeploy('v1', { 'dry-run': 'true' })
    expect(errorLine(dry.main.log)).toBe('')
    expect(dry.main.outputs.status).toBe('planned')

    for (const version of ['v1', 'v2']) {
      const run = await asDeploy(version)
      expect(errorLine(run.main.log)).toBe('')
      expect(run.main.outputs.status).toBe('deployed')
      expect(await servedThrough(host, 80, 'shop.example.com', version)).toBe(version)
    }
    expect(await fileOf(host, UPSTREAM)).toMatch(new RegExp(`^${MARKER} for upstream shop\\.`))
    expect(await fileOf(host, '/etc/nginx/sites-enabled/shop')).toBe(operatorSite)
  })
})

describe('nginx-site: a site the action writes and owns', () => {
  let lab: Lab
  let one: LabHost
  let two: LabHost
  const NAME = 'shop.example.com'

  beforeAll(async () => {
    lab = await startLab({ hosts: 2, name: 'site-managed' })
    one = lab.hosts[0]!
    two = lab.hosts[1]!
  })

  afterAll(async () => {
    await lab?.stop()
  })

  const deploy = (host: LabHost, version: string, extra: Record<string, string> = {}) =>
    runAction(
      deployInputs(lab, [host], makeRelease(version), {
        version,
        'nginx-site': NAME,
        ...extra,
      }),
    )
  const inode = (host: LabHost) => host.sh(`stat -c %i ${SITE}`).then((r) => r.stdout.trim())

  it('a fresh host without a site: the app answers through nginx on port 80 for its server name', async () => {
    expect(await fileOf(one, SITE)).toBe('(none)\n')
    const run = await deploy(one, 'v1')
    expect(errorLine(run.main.log)).toBe('')
    expect(run.main.outputs.status).toBe('deployed')
    expect(await servedThrough(one, 80, NAME, 'v1')).toBe('v1')
    // Another name goes to the lab's default server on port 80, not to the app.
    expect((await viaSite(one, 80, 'other.example.com')).status).toBe(404)
    const site = await fileOf(one, SITE)
    expect(site).toMatch(new RegExp(`^${MARKER} for site shop `))
    expect(site).toContain(`    listen 80;\n    server_name ${NAME};\n`)
    expect(site).toContain('        proxy_pass http://shop;\n')

    // The same inputs: the site is not written again.
    const before = await inode(one)
    const v2 = await deploy(one, 'v2')
    expect(errorLine(v2.main.log)).toBe('')
    expect(await servedThrough(one, 80, NAME, 'v2')).toBe('v2')
    expect(await inode(one)).toBe(before)
    expect(await fileOf(one, SITE)).toBe(site)
  })

  it('nginx -t fails on the new site: the site and the upstream from before come back', async () => {
    const site = await fileOf(one, SITE)
    const upstream = await fileOf(one, UPSTREAM)
    // Longer than nginx's default server_names_hash_bucket_size (64) allows, with another server
    // (the lab's) on the same port, so that nginx builds the hash.
    const long = 'the-new-shop-frontend-for-customers-in-europe.staging.shop.example.com'
    const run = await deploy(one, 'v3', { 'nginx-site': `${NAME} ${long}` })
    expect(run.main.exitCode).toBe(1)
    const error = errorLine(run.main.log)
    expect(error).toContain(
      `[${one.address}] switch: install site and test nginx: command exited 1`,
    )
    expect(error).toContain('server_names_hash')
    expect(await fileOf(one, SITE)).toBe(site)
    expect(await fileOf(one, UPSTREAM)).toBe(upstream)
    expect(await servedThrough(one, 80, NAME, 'v2')).toBe('v2')
    expect((await one.sh('nginx -t 2>&1', { allowFail: true })).exitCode).toBe(0)
  })

  it('a hand-edited site stops the deploy (drift); force: true overwrites it', async () => {
    await one.sh(`sed -i 's/X-Real-IP/X-Client-IP/' ${SITE}`)
    const edited = await fileOf(one, SITE)
    const run = await deploy(one, 'v4')
    expect(run.main.exitCode).toBe(1)
    expect(errorLine(run.main.log)).toContain(
      `[${one.address}] check site: ${SITE} was edited by hand since the last deploy (drift); nothing was changed.`,
    )
    expect(await fileOf(one, SITE)).toBe(edited)
    expect(await servedThrough(one, 80, NAME, 'v2')).toBe('v2')

    const forced = await deploy(one, 'v4', { force: 'true' })
    expect(errorLine(forced.main.log)).toBe('')
    expect(await fileOf(one, SITE)).toBe(edited.replace('X-Client-IP', 'X-Real-IP'))
    expect(await servedThrough(one, 80, NAME, 'v4')).toBe('v4')
  })

  it('a site file the action did not write is never overwritten, not even with force', async () => {
    const foreign = `server {\n  listen 80;\n  server_name ${NAME};\n  return 200 "ops";\n}\n`
    await two.sh(`cat > ${SITE} <<'CONF'\n${foreign}CONF\nnginx -t && nginx -s reload`)
    const run = await deploy(two, 'v1', { force: 'true' })
    expect(run.main.exitCode).toBe(1)
    expect(errorLine(run.main.log)).toContain(
      `[${two.address}] check site: ${SITE} was not written by this action; nothing was changed.`,
    )
    expect(await fileOf(two, SITE)).toBe(foreign)
    expect(await fileOf(two, UPSTREAM)).toBe('(none)\n')
    expect(await servedThrough(two, 80, NAME, 'ops')).toBe('ops')
  })

  it('a run killed after writing the site: the post step puts back the site and the upstream', async () => {
    await two.sh(`rm -f ${SITE} && nginx -s reload`)
    // nginx -t hangs once the site is written, and the runner dies meanwhile.
    const hang = { 'nginx-test-command': `nginx -t && { [ ! -e ${SITE} ] || sleep 30; }` }
    const run = await runAction(
      deployInputs(lab, [two], makeRelease('k1'), { version: 'k1', 'nginx-site': NAME, ...hang }),
      { killAfterMs: 15_000 },
    )
    expect(run.main.exitCode).not.toBe(0)
    expect(run.post.log).toContain(
      `post: [${two.address}] restored the site file from before the run; restored the upstream file from before the run`,
    )
    expect(await fileOf(two, SITE)).toBe('(none)\n')
    expect(await fileOf(two, UPSTREAM)).toBe('(none)\n')
    expect((await two.sh('nginx -t 2>&1', { allowFail: true })).exitCode).toBe(0)
  })
})
