/**
 * Helpers for end-to-end deploy tests: releases of the sample app (and of the examples in other
 * stacks), nginx sites, host state.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, cpSync, mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { connectionVariable } from '../src/nginx/render.js'
import type { Lab, LabHost } from './hosts/index.js'
import { tempDir } from './tmp.js'

const EXAMPLES = resolve(import.meta.dirname, '../examples')
const SAMPLE_APP = join(EXAMPLES, 'app')

/** examples/gunicorn, a release as it is: its version is the REVISION file the action writes. */
export const GUNICORN_APP = join(EXAMPLES, 'gunicorn')

/**
 * The Mix release of examples/elixir (`bin/shop`), built with Debian's elixir (`MIX_ENV=prod mix
 * release`) in a {@link tempDir}; returns `_build/prod/rel/shop`, the directory a deploy ships.
 * The app reports the REVISION file the action writes at the release's root, so one build
 * serves every version: build it once per test file.
 */
export async function buildElixirRelease(): Promise<string> {
  const project = tempDir('elixir-build')
  cpSync(join(EXAMPLES, 'elixir'), project, { recursive: true })
  const env = { ...process.env, MIX_ENV: 'prod', MIX_HOME: join(project, '.mix') }
  await promisify(execFile)('mix', ['release'], { cwd: project, env, timeout: 180_000 })
  return join(project, '_build/prod/rel/shop')
}

/**
 * A release directory of the sample app reporting `version`; `behaviour` goes into
 * behaviour.json (e.g. `{ crashAtBoot: true }` or `{ healthStatus: 503 }`). A {@link tempDir}:
 * removed after the test file.
 */
export function makeRelease(version: string, behaviour?: Record<string, unknown>): string {
  const dir = tempDir(`release-${version}`)
  for (const file of ['server.js', 'cluster.js', 'worker.js', 'package.json']) {
    copyFileSync(join(SAMPLE_APP, file), join(dir, file))
  }
  writeFileSync(join(dir, 'VERSION'), `${version}\n`)
  if (behaviour) writeFileSync(join(dir, 'behaviour.json'), JSON.stringify(behaviour))
  return dir
}

/** The fingerprint of a version's bundle: `app-<fingerprint(v)>.js`. */
export function fingerprint(version: string): string {
  return createHash('sha256').update(version).digest('hex').slice(0, 8)
}

/**
 * {@link makeRelease} with fingerprinted assets, as a production build leaves them: in
 * public/assets, `app-<hash>.js`, a lazy chunk, the manifest `.manifest.json` that names the
 * bundle (the sample app's /page reads it), and an undigested `app.js` of the version's own
 * content (phx.digest leaves one in every release).
 */
export function makeAssetRelease(version: string, behaviour?: Record<string, unknown>): string {
  const dir = makeRelease(version, behaviour)
  const assets = join(dir, 'public/assets')
  const hash = fingerprint(version)
  mkdirSync(join(assets, 'chunks'), { recursive: true })
  writeFileSync(join(assets, `app-${hash}.js`), `console.log(${JSON.stringify(version)})\n`)
  writeFileSync(
    join(assets, `chunks/lazy-${hash}.js`),
    `export default ${JSON.stringify(version)}\n`,
  )
  writeFileSync(join(assets, 'app.js'), `console.log(${JSON.stringify(version)}) // undigested\n`)
  writeFileSync(join(assets, '.manifest.json'), JSON.stringify({ 'app.js': `app-${hash}.js` }))
  return dir
}

export interface SiteOptions {
  /** Write the canary access log (README: Canary) to /var/log/nginx/<app>-canary.log. */
  canaryLog?: boolean
  /** Hand out the sticky canary cookie (needs canary-sticky-cookie in every deploy). */
  stickyCookie?: boolean
  /** The site's own access log (so it does not inherit the http-level ones), e.g. a file path. */
  ownAccessLog?: string
}

/**
 * The operator's site as README "Host setup" step 4 writes it: port 80 proxies to the upstream
 * the action owns, websocket upgrades included (`$<app>_connection` comes from its include).
 */
export async function addSite(
  host: LabHost,
  app: string,
  options: SiteOptions = {},
): Promise<void> {
  const log = [
    options.ownAccessLog ? `access_log ${options.ownAccessLog};` : '',
    options.canaryLog ? `access_log /var/log/nginx/${app}-canary.log ${app}_canary;` : '',
  ].join('\n  ')
  const cookie = options.stickyCookie ? `add_header Set-Cookie $${app}_canary_cookie;` : ''
  await host.sh(`cat > /etc/nginx/sites-enabled/${app}.conf <<'CONF'
server {
  listen 80 default_server;
  ${log}
  location / {
    ${cookie}
    proxy_pass http://${app};
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection ${connectionVariable(app)};
    proxy_read_timeout 60s;
  }
}
CONF
nginx -t 2>&1 && nginx -s reload`)
  await waitUntilServing(`http://${host.address}/version`)
}

/**
 * The load balancer's site for a rolling deploy: port 80 to the `<app>_lb` upstream the action
 * writes there. Waits until it serves.
 */
export async function addBalancerSite(lb: LabHost, app: string): Promise<void> {
  await lb.sh(`cat > /etc/nginx/sites-enabled/lb.conf <<'CONF'
server {
  listen 80 default_server;
  location / { proxy_pass http://${app}_lb; proxy_http_version 1.1; proxy_set_header Connection ""; }
}
CONF
nginx -t 2>&1 && nginx -s reload`)
  await waitUntilServing(`http://${lb.address}/version`)
}

/**
 * nginx -s reload only signals the master, and old workers may still answer for a moment: wait
 * until 10 requests in a row, over at least 200 ms, succeed.
 */
export async function waitUntilServing(url: string): Promise<void> {
  let inARow = 0
  for (let i = 0; i < 200 && inARow < 10; i++) {
    const ok = await fetch(url, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.ok,
      () => false,
    )
    inARow = ok ? inARow + 1 : 0
    await new Promise((r) => setTimeout(r, ok ? 20 : 50))
  }
}

/** What the site on port 80 of a host serves now: the sample app's version, or an error text. */
export async function servedVersion(host: LabHost): Promise<string> {
  try {
    const response = await fetch(`http://${host.address}/version`, {
      signal: AbortSignal.timeout(3000),
    })
    return response.ok ? (await response.text()).trim() : `HTTP ${response.status}`
  } catch (error) {
    return `error: ${(error as Error).message}`
  }
}

/** Inputs for a deploy of `releasePath` to the given hosts of a lab. */
export function deployInputs(
  lab: Lab,
  hosts: LabHost[],
  releasePath: string,
  overrides: Record<string, string> = {},
): Record<string, string> {
  return {
    hosts: hosts.map((h) => h.sshTarget).join('\n'),
    'ssh-key': lab.privateKey,
    'known-hosts': lab.knownHosts,
    'app-name': 'shop',
    'release-path': releasePath,
    // As the README's Quick start writes it: no exec, so dash stays the server's parent.
    'start-command': 'node server.js',
    'health-interval': '200ms',
    'health-timeout': '15s',
    'drain-timeout': '10s',
    'stop-timeout': '5s',
    ...overrides,
  }
}

/** state.json of the app on a host, parsed. */
export async function hostState(host: LabHost, app = 'shop'): Promise<Record<string, unknown>> {
  const { stdout } = await host.sh(`cat /srv/${app}/.deploy/state.json`)
  return JSON.parse(stdout) as Record<string, unknown>
}

/** Process ids listening on a port inside the host, '' when none. */
export async function listening(host: LabHost, port: number): Promise<boolean> {
  const { stdout } = await host.sh(`ss -Hltn 'sport = :${port}' | wc -l`)
  return stdout.trim() !== '0'
}

/**
 * `file`, the upstream include or the managed site as the action renders it now, as the version
 * before websockets wrote it (no connection map; `Connection ""` in the site), with the checksum
 * that version put in its header: the file on a host that version deployed.
 */
export function writtenBeforeWebsockets(file: string): string {
  const [title = '', warning = '', , ...lines] = file.split('\n')
  const now = lines.join('\n')
  const before = now
    .replace(/^map \$http_upgrade \S+ \{\n.*\n.*\n\}\n/m, '')
    .replace(
      /^( +)proxy_set_header Upgrade \$http_upgrade;\n +proxy_set_header Connection \$\w+;\n/m,
      '$1proxy_set_header Connection "";\n',
    )
  if (before === now) throw new Error(`not a file rendered with websockets:\n${file}`)
  const sha = createHash('sha256').update(before).digest('hex')
  return `${title}\n${warning}\n# sha256:${sha}\n${before}`
}
