import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tar from 'tar'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { inspectArchive } from '../../src/release/archive.js'
import { ARTIFACT_TOOL, cacheVersion } from '../../src/release/download.js'
import { prepareRelease, sha256File } from '../../src/release/index.js'
import { formatBytes } from '../../src/release/prepare.js'

/** The token the private route of the test server wants. */
const TOKEN = 'ghp_test-token-123'
let temp: string
let workspace: string
let workDir: string
const ENV_KEYS = ['RUNNER_TEMP', 'RUNNER_TOOL_CACHE', 'TMPDIR'] as const
const savedEnv = Object.fromEntries(ENV_KEYS.map((key) => [key, process.env[key]]))

beforeEach(() => {
  temp = mkdtempSync(join(tmpdir(), 'release-prepare-'))
  workspace = join(temp, 'workspace')
  workDir = join(temp, 'work')
  mkdirSync(workspace)
  process.env.RUNNER_TEMP = join(temp, 'runner-temp')
  process.env.RUNNER_TOOL_CACHE = join(temp, 'tool-cache')
})
afterEach(() => {
  for (const key of ENV_KEYS) {
    if (savedEnv[key] === undefined) delete process.env[key]
    else process.env[key] = savedEnv[key]
  }
  rmSync(temp, { recursive: true, force: true })
})

/** A .tgz made by the system tar from a small tree. */
function systemTarball(path: string, options: { topDir?: string } = {}): void {
  const src = mkdtempSync(join(tmpdir(), 'release-src-'))
  const root = options.topDir === undefined ? src : join(src, options.topDir)
  mkdirSync(root, { recursive: true })
  writeFileSync(join(root, 'server.js'), 'console.log("from a tarball")\n')
  execFileSync('tar', ['-czf', path, '-C', src, '.'])
  rmSync(src, { recursive: true, force: true })
}

function input(overrides: Partial<Parameters<typeof prepareRelease>[0]> = {}) {
  return { releasePath: '.', artifactUrl: '', cwd: workspace, workDir, ...overrides }
}

describe('prepareRelease from release-path', () => {
  it('packs a directory, relative to the workspace, into workDir/release.tar.gz', async () => {
    mkdirSync(join(workspace, 'build/static'), { recursive: true })
    writeFileSync(join(workspace, 'build/index.js'), 'ok\n')
    writeFileSync(join(workspace, 'build/static/app.css'), 'a{}\n')

    const release = await prepareRelease(input({ releasePath: 'build' }))

    expect(release.path).toBe(join(workDir, 'release.tar.gz'))
    expect(release.source).toBe(`directory ${join(workspace, 'build')}`)
    expect(release.sha256).toBe(await sha256File(release.path))
    expect(release.sha256).toMatch(/^[0-9a-f]{64}$/)
    expect(release.bytes).toBe(readFileSync(release.path).length)
    const listing = execFileSync('tar', ['-tzf', release.path], { encoding: 'utf8' })
    expect(listing.split('\n').filter(Boolean)).toEqual(['index.js', 'static/', 'static/app.css'])
  })

  it('packs the workspace itself (release-path .) without the work dir inside it', async () => {
    writeFileSync(join(workspace, 'server.js'), 'ok\n')
    const inside = join(workspace, '.deploy')

    const first = await prepareRelease(input({ workDir: inside }))
    const second = await prepareRelease(input({ workDir: inside }))

    const listing = execFileSync('tar', ['-tzf', first.path], { encoding: 'utf8' })
    expect(listing.split('\n').filter(Boolean)).toEqual(['server.js'])
    expect(second.sha256).toBe(first.sha256)
  })

  it('leaves out what exclude and .deployignore name, and .deployignore itself', async () => {
    mkdirSync(join(workspace, 'node_modules/left-pad'), { recursive: true })
    mkdirSync(join(workspace, 'logs'), { recursive: true })
    mkdirSync(join(workspace, 'config'), { recursive: true })
    writeFileSync(join(workspace, 'node_modules/left-pad/index.js'), 'x\n')
    writeFileSync(join(workspace, 'logs/dev.log'), 'x\n')
    writeFileSync(join(workspace, 'config/secrets.dev.json'), '{}\n')
    writeFileSync(join(workspace, 'config/app.json'), '{}\n')
    writeFileSync(join(workspace, 'server.js'), 'ok\n')
    writeFileSync(join(workspace, '.deployignore'), '# dev only\n*.log\n\n/config/*.dev.json\n')
    const release = await prepareRelease(input({ exclude: ['node_modules/'] }))

    const listing = execFileSync('tar', ['-tzf', release.path], { encoding: 'utf8' })
    expect(listing.split('\n').filter(Boolean)).toEqual([
      'config/',
      'config/app.json',
      'logs/',
      'server.js',
    ])
  })

  it('reads .deployignore after exclude, as git reads a .gitignore; .deployignore and .git never ship', async () => {
    mkdirSync(join(workspace, 'logs'), { recursive: true })
    mkdirSync(join(workspace, '.git'), { recursive: true })
    writeFileSync(join(workspace, '.git/HEAD'), 'ref\n')
    writeFileSync(join(workspace, 'logs/dev.log'), 'x\n')
    writeFileSync(join(workspace, 'logs/audit.log'), 'x\n')
    writeFileSync(join(workspace, 'server.js'), 'ok\n')
    writeFileSync(join(workspace, '.deployignore'), '!audit.log\n!.deployignore\n!.git\n')

    const release = await prepareRelease(input({ exclude: ['*.log'] }))

    const listing = execFileSync('tar', ['-tzf', release.path], { encoding: 'utf8' })
    expect(listing.split('\n').filter(Boolean)).toEqual(['logs/', 'logs/audit.log', 'server.js'])
  })

  it('refuses exclude with an archive release-path', async () => {
    systemTarball(join(workspace, 'app.tgz'))
    await expect(
      prepareRelease(input({ releasePath: 'app.tgz', exclude: ['*.log'] })),
    ).rejects.toThrow(
      `exclude was given, but release-path 'app.tgz' is not a directory (resolved to ${join(workspace, 'app.tgz')})`,
    )
  })

  it('takes an existing .tgz as is', async () => {
    const tarball = join(workspace, 'dist', 'app.tgz')
    mkdirSync(join(workspace, 'dist'))
    systemTarball(tarball)

    const release = await prepareRelease(input({ releasePath: 'dist/app.tgz' }))

    expect(release.sha256).toBe(await sha256File(tarball))
    expect(release.path).toBe(join(workDir, 'release.tar.gz'))
    expect(readFileSync(release.path).equals(readFileSync(tarball))).toBe(true)
    expect(release.source).toBe(`archive ${tarball}`)
  })

  it('names the input and the resolved path when release-path does not exist', async () => {
    await expect(prepareRelease(input({ releasePath: 'build' }))).rejects.toThrow(
      `release-path 'build' does not exist (resolved to ${join(workspace, 'build')})`,
    )
  })

  it('says which archive types are accepted for another kind of file', async () => {
    writeFileSync(join(workspace, 'app.zip'), 'PK')
    await expect(prepareRelease(input({ releasePath: 'app.zip' }))).rejects.toThrow(
      `release-path 'app.zip' is not a directory or a .tar.gz/.tgz archive (resolved to ` +
        `${join(workspace, 'app.zip')}); expected a directory to pack, or a gzip-compressed tar ` +
        `archive named *.tar.gz or *.tgz to ship as is`,
    )
  })

  it('refuses a .tar.gz that is not gzip', async () => {
    writeFileSync(join(workspace, 'app.tar.gz'), 'just text\n')
    await expect(prepareRelease(input({ releasePath: 'app.tar.gz' }))).rejects.toThrow(
      "release-path 'app.tar.gz' is not a gzip file (it starts with 'just text'); " +
        'expected a gzip-compressed tar archive (.tar.gz or .tgz)',
    )
  })

  it('refuses a truncated archive', async () => {
    const tarball = join(workspace, 'app.tgz')
    systemTarball(tarball)
    writeFileSync(tarball, readFileSync(tarball).subarray(0, 30))
    await expect(prepareRelease(input({ releasePath: 'app.tgz' }))).rejects.toThrow(
      "release-path 'app.tgz' is not a valid .tar.gz archive: zlib: unexpected end of file",
    )
  })
})

describe('inspectArchive', () => {
  it('finds the one top directory of a nested archive', async () => {
    const nested = join(temp, 'nested.tgz')
    systemTarball(nested, { topDir: 'myapp-1.0' })
    const flat = join(temp, 'flat.tgz')
    systemTarball(flat)

    expect(await inspectArchive(nested, 'x')).toEqual({
      entries: 3,
      singleTopDirectory: 'myapp-1.0',
    })
    expect(await inspectArchive(flat, 'x')).toEqual({ entries: 2, singleTopDirectory: undefined })
  })

  it('refuses entries that would land outside the extraction directory', async () => {
    // GNU tar strips '../' when creating; npm tar keeps it with preservePaths.
    const src = join(temp, 'evil/a')
    mkdirSync(src, { recursive: true })
    writeFileSync(join(temp, 'evil/outside'), 'x')
    const archive = join(temp, 'evil.tgz')
    await tar.create({ file: archive, gzip: true, cwd: src, preservePaths: true }, ['../outside'])

    await expect(inspectArchive(archive, "artifact-url 'u'")).rejects.toThrow(
      "artifact-url 'u' has an entry outside the directory it is extracted into: '../outside'",
    )
  })
})

describe('prepareRelease from artifact-url', () => {
  let server: Server
  let base: string
  const requests = new Map<string, number>()
  let tarball: Buffer

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'release-url-'))
    systemTarball(join(dir, 'app.tar.gz'))
    tarball = readFileSync(join(dir, 'app.tar.gz'))
    rmSync(dir, { recursive: true, force: true })

    server = createServer((req, res) => {
      const path = req.url ?? ''
      requests.set(path, (requests.get(path) ?? 0) + 1)
      if (path.startsWith('/private/')) {
        if (req.headers.authorization !== `Bearer ${TOKEN}`) {
          res.writeHead(401, { 'www-authenticate': 'Bearer' }).end('unauthorized')
        } else {
          res.writeHead(200, { 'content-type': 'application/gzip' }).end(tarball)
        }
      } else if (path.startsWith('/app.tar.gz')) {
        res.writeHead(200, { 'content-type': 'application/gzip' }).end(tarball)
      } else if (path === '/login.html') {
        res.writeHead(200, { 'content-type': 'text/html' }).end('<!DOCTYPE html><p>sign in</p>')
      } else {
        res.writeHead(404).end('not found')
      }
    })
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    await new Promise((done) => server.close(done))
  })
  beforeEach(() => requests.clear())

  it('downloads once, then serves the same URL from the tool cache', async () => {
    const url = `${base}/app.tar.gz?build=1`

    const first = await prepareRelease(input({ artifactUrl: url }))
    const second = await prepareRelease(input({ artifactUrl: url, workDir: join(temp, 'w2') }))

    expect(requests.get('/app.tar.gz?build=1')).toBe(1)
    const sha = createHash('sha256').update(tarball).digest('hex')
    expect(first.sha256).toBe(sha)
    expect(second.sha256).toBe(sha)
    expect(first.source).toBe(`url ${url}`)
    expect(first.path).toBe(join(workDir, 'release.tar.gz'))
    expect(existsSync(second.path)).toBe(true)
    const cached = join(temp, 'tool-cache', ARTIFACT_TOOL, cacheVersion(url))
    expect(existsSync(`${cached}/${process.arch}/artifact.tar.gz`)).toBe(true)

    // Another URL is another cache entry.
    await prepareRelease(input({ artifactUrl: `${base}/app.tar.gz?build=2` }))
    expect(requests.get('/app.tar.gz?build=2')).toBe(1)
  })

  it('sends artifact-token as a bearer token and checks artifact-sha256', async () => {
    const sha = createHash('sha256').update(tarball).digest('hex')
    const url = `${base}/private/app.tar.gz?build=3`
    const wrong = 'ab'.repeat(32)

    await expect(prepareRelease(input({ artifactUrl: url }))).rejects.toThrow(
      `artifact-url '${url}': download failed with HTTP 401 (the URL was fetched without ` +
        'credentials: if it needs them, give artifact-token)',
    )
    const badToken = input({ artifactUrl: url, artifactToken: 'not-it' })
    const refused = await prepareRelease(badToken).catch((error: Error) => error.message)
    expect(refused).toBe(
      `artifact-url '${url}': download failed with HTTP 401 (artifact-token was sent as an ` +
        'Authorization: Bearer header: check that it is valid and may read this URL)',
    )
    expect(refused).not.toContain('not-it')

    const mismatch = input({ artifactUrl: url, artifactToken: TOKEN, artifactSha256: wrong })
    await expect(prepareRelease(mismatch)).rejects.toThrow(
      `artifact-url '${url}': the download has sha256 ${sha}, but artifact-sha256 is ${wrong}; ` +
        'nothing was shipped.',
    )
    // A mismatch is not cached: the right checksum downloads again and passes.
    const right = input({ artifactUrl: url, artifactToken: TOKEN, artifactSha256: sha })
    expect((await prepareRelease(right)).sha256).toBe(sha)
    expect(requests.get('/private/app.tar.gz?build=3')).toBe(4)
    // Cached now: the same checksum is served from the cache, another one is refused.
    expect((await prepareRelease(right)).sha256).toBe(sha)
    expect(requests.get('/private/app.tar.gz?build=3')).toBe(4)
    await expect(prepareRelease(mismatch)).rejects.toThrow('but artifact-sha256 is')
    expect(requests.get('/private/app.tar.gz?build=3')).toBe(5)
  })

  it('names the URL and the HTTP status when the download fails', async () => {
    const url = `${base}/missing.tar.gz`
    await expect(prepareRelease(input({ artifactUrl: url }))).rejects.toThrow(
      `artifact-url '${url}': download failed with HTTP 404 (the URL was fetched without ` +
        'credentials: if it needs them, give artifact-token)',
    )
    expect(requests.get('/missing.tar.gz')).toBe(1)
  })

  it('refuses a download that is not gzip, and does not cache it', async () => {
    const url = `${base}/login.html`
    const message =
      `artifact-url '${url}' is not a gzip file (it starts with '<!DOCTYPE html><p>sign in</p>'); ` +
      'expected a gzip-compressed tar archive (.tar.gz or .tgz)'
    await expect(prepareRelease(input({ artifactUrl: url }))).rejects.toThrow(message)
    await expect(prepareRelease(input({ artifactUrl: url }))).rejects.toThrow(message)
    expect(requests.get('/login.html')).toBe(2)
  })

  it('works without RUNNER_TEMP and RUNNER_TOOL_CACHE, using dirs under the OS temp dir', async () => {
    delete process.env.RUNNER_TEMP
    delete process.env.RUNNER_TOOL_CACHE
    process.env.TMPDIR = join(temp, 'os-tmp')

    const release = await prepareRelease(input({ artifactUrl: `${base}/app.tar.gz?env` }))

    const fallback = join(temp, 'os-tmp', 'ssh-zero-downtime-deploy')
    expect(process.env.RUNNER_TOOL_CACHE).toBe(join(fallback, 'tool-cache'))
    expect(process.env.RUNNER_TEMP).toBe(join(fallback, 'temp'))
    expect(existsSync(join(fallback, 'tool-cache', ARTIFACT_TOOL))).toBe(true)
    expect(existsSync(release.path)).toBe(true)
  })
})

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [5 * 1024 * 1024 + 300_000, '5.3 MiB'],
    [3 * 1024 ** 3, '3.0 GiB'],
  ])('%i -> %s', (bytes, expected) => {
    expect(formatBytes(bytes)).toBe(expected)
  })
})
