/**
 * What ships, end to end on the bundle: `exclude` and `.deployignore` leave paths out of the
 * release on the host; `artifact-url` with `artifact-token` and `artifact-sha256` against an HTTP
 * server on 127.0.0.1 that wants the token.
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { errorLine, runAction } from '../../test/action-runner.js'
import { deployInputs, makeRelease } from '../../test/deploy-fixture.js'
import { startLab, type Lab, type LabHost } from '../../test/hosts/index.js'

const TOKEN = 'dzd-e2e-artifact-token-7f3a'
let lab: Lab
let host: LabHost
let server: Server
let base: string
let tarball: Buffer
/** Holds the releases made here and the tool cache of the runs (removed at the end). */
let temp: string
const requests: { path: string; authorized: boolean }[] = []

beforeAll(async () => {
  temp = mkdtempSync(join(tmpdir(), 'dzd-release-source-'))
  const app = makeRelease('a1')
  try {
    execFileSync('tar', ['-czf', join(temp, 'a1.tar.gz'), '-C', app, '.'])
  } finally {
    rmSync(app, { recursive: true, force: true })
  }
  tarball = readFileSync(join(temp, 'a1.tar.gz'))
  server = createServer((req, res) => {
    const authorized = req.headers.authorization === `Bearer ${TOKEN}`
    requests.push({ path: req.url ?? '', authorized })
    if (!authorized) res.writeHead(401).end('unauthorized')
    else res.writeHead(200, { 'content-type': 'application/gzip' }).end(tarball)
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  lab = await startLab({ hosts: 1, name: 'release-source' })
  host = lab.hosts[0]!
})

afterAll(async () => {
  await lab?.stop()
  await new Promise((done) => server?.close(done))
  rmSync(temp, { recursive: true, force: true })
})

const run = (releasePath: string, inputs: Record<string, string>) =>
  runAction(deployInputs(lab, [host], releasePath, inputs), {
    env: { RUNNER_TOOL_CACHE: join(temp, 'tool-cache') },
  })

/** Paths under releases/<version> on the host, sorted. */
async function shipped(version: string): Promise<string[]> {
  const dir = `/srv/shop/releases/${version}`
  const { stdout } = await host.sh(`cd ${dir} && find . -mindepth 1 | sed 's|^\\./||' | sort`)
  return stdout.split('\n').filter(Boolean)
}

it('leaves out what exclude and .deployignore name as git would, and refuses bad input before connecting', async () => {
  const app = makeRelease('x1')
  try {
    for (const file of [
      'node_modules/dep/index.js',
      'logs/dev.log',
      'logs/keep.log',
      'test/app.test.js',
    ]) {
      mkdirSync(join(app, file, '..'), { recursive: true })
      writeFileSync(join(app, file), file)
    }
    // Read after exclude: the last pattern that matches decides, as in git.
    writeFileSync(join(app, '.deployignore'), '# not for the hosts\n*.log\n!keep.log\n/test\n')

    const bad = await run(app, { version: 'x0', exclude: 'node_modules/, log\u001b[0m' })
    expect(bad.main.exitCode).toBe(1)
    expect(bad.main.log).toContain(
      "Input 'exclude': 'node_modules/, log\\x1b[0m' has bad patterns: 'log\\x1b[0m' contains control characters",
    )
    expect(bad.main.log).not.toContain('Packing directory')

    // asset-path names a folder the built release does not have: refused before any host.
    const missing = await run(app, { version: 'x0', 'asset-path': 'public/assets' })
    expect(missing.main.exitCode).toBe(1)
    expect(errorLine(missing.main.log)).toContain(
      "Input 'asset-path': the release has no folder 'public/assets'",
    )
    expect(missing.main.log).not.toContain('locked; live')

    const deployed = await run(app, { version: 'x1', exclude: 'node_modules/' })
    expect(errorLine(deployed.main.log)).toBe('')
    expect(deployed.main.outputs.status).toBe('deployed')
    // .release-sha256 and REVISION are the action's own records of the archive and version.
    expect(await shipped('x1')).toEqual([
      '.release-sha256',
      'REVISION',
      'VERSION',
      'cluster.js',
      'logs',
      'logs/keep.log',
      'package.json',
      'server.js',
      'worker.js',
    ])
  } finally {
    rmSync(app, { recursive: true, force: true })
  }
})

it('downloads artifact-url with artifact-token and checks artifact-sha256 before any host', async () => {
  const sha = createHash('sha256').update(tarball).digest('hex')
  const url = `${base}/builds/a1.tar.gz`
  const artifact = { version: 'a1', 'release-path': '.', 'artifact-url': url }

  const noToken = await run('.', artifact)
  expect(noToken.main.exitCode).toBe(1)
  expect(errorLine(noToken.main.log)).toContain(
    `artifact-url '${url}': download failed with HTTP 401 (the URL was fetched without credentials: if it needs them, give artifact-token)`,
  )

  const wrongSha = 'ab'.repeat(32)
  const mismatch = await run('.', {
    ...artifact,
    'artifact-token': TOKEN,
    'artifact-sha256': wrongSha,
  })
  expect(mismatch.main.exitCode).toBe(1)
  expect(errorLine(mismatch.main.log)).toContain(
    `artifact-url '${url}': the download has sha256 ${sha}, but artifact-sha256 is ${wrongSha}; nothing was shipped.`,
  )
  // No host was touched: not even the lock was taken, so nothing is under releases/.
  expect((await host.sh('ls /srv/shop/releases')).stdout.split('\n')).not.toContain('a1')

  const ok = await run('.', { ...artifact, 'artifact-token': TOKEN, 'artifact-sha256': sha })
  expect(errorLine(ok.main.log)).toBe('')
  expect(ok.main.outputs.status).toBe('deployed')
  expect(await shipped('a1')).toContain('server.js')
  expect(requests.map((r) => r.authorized)).toEqual([false, true, true])
  // The token is masked: it appears only in the runner's add-mask command, never in a line.
  const lines = [noToken, mismatch, ok].flatMap((r) => r.main.log.split('\n'))
  expect(lines.filter((l) => l.includes(TOKEN)).every((l) => l === `::add-mask::${TOKEN}`)).toBe(
    true,
  )
})
