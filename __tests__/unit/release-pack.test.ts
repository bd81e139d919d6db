import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  chmodSync,
  cpSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tar from 'tar'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { sha256File } from '../../src/release/index.js'
import { ignoreMatcher, splitExclude } from '../../src/release/ignore.js'
import { contentMtime, packDirectory } from '../../src/release/pack.js'

let temp: string
beforeEach(() => {
  temp = mkdtempSync(join(tmpdir(), 'release-pack-'))
})
afterEach(() => {
  rmSync(temp, { recursive: true, force: true })
})

/** An app tree with the cases that matter: executable, dotfile, symlinks, nesting, .git. */
function makeApp(root: string): void {
  mkdirSync(join(root, 'bin'), { recursive: true })
  mkdirSync(join(root, 'public/assets/css'), { recursive: true })
  mkdirSync(join(root, 'empty'))
  mkdirSync(join(root, '@scope/pkg'), { recursive: true })
  mkdirSync(join(root, '.git/objects'), { recursive: true })
  mkdirSync(join(root, 'vendor/lib/.git'), { recursive: true })
  writeFileSync(join(root, 'server.js'), 'console.log("hi")\n')
  writeFileSync(join(root, 'bin/start'), '#!/bin/sh\nexec node server.js\n')
  chmodSync(join(root, 'bin/start'), 0o755)
  writeFileSync(join(root, '.env.example'), 'PORT=3000\n')
  writeFileSync(join(root, 'public/index.html'), '<script src="main.1a2b3c4d.js"></script>\n')
  writeFileSync(join(root, 'public/assets/css/site.css'), 'body { color: red }\n')
  symlinkSync('server.js', join(root, 'main.js'))
  symlinkSync('public/assets', join(root, 'assets'))
  writeFileSync(join(root, '.git/HEAD'), 'ref: refs/heads/main\n')
  writeFileSync(join(root, '.git/objects/ab'), 'blob')
  writeFileSync(join(root, 'vendor/lib/.git/HEAD'), 'nested repo\n')
  writeFileSync(join(root, 'vendor/lib/index.js'), 'module.exports = 1\n')
  // npm tar's create() would read a top-level '@name' as an archive to append.
  writeFileSync(join(root, '@scope/pkg/index.js'), 'export {}\n')
  writeFileSync(join(root, 'vendor/.git'), 'gitdir: ../.git/modules/vendor\n')
}

/** Every entry below root as `kind path mode detail`, sorted, `.git` included if present. */
function describeTree(root: string, relative = ''): string[] {
  const lines: string[] = []
  for (const name of readdirSync(join(root, relative)).sort()) {
    const path = relative === '' ? name : `${relative}/${name}`
    const stats = lstatSync(join(root, path))
    const mode = (stats.mode & 0o777).toString(8)
    if (stats.isSymbolicLink()) lines.push(`link ${path} -> ${readlinkSync(join(root, path))}`)
    else if (stats.isDirectory()) {
      lines.push(`dir ${path} ${mode}`)
      lines.push(...describeTree(root, path))
    } else {
      const hash = createHash('sha256')
        .update(readFileSync(join(root, path)))
        .digest('hex')
      lines.push(`file ${path} ${mode} ${hash.slice(0, 12)}`)
    }
  }
  return lines
}

function extract(archive: string): string {
  const dir = mkdtempSync(join(temp, 'extracted-'))
  execFileSync('tar', ['-xzf', archive, '-C', dir])
  return dir
}

async function listArchive(archive: string): Promise<Map<string, tar.ReadEntry>> {
  const entries = new Map<string, tar.ReadEntry>()
  await tar.list({ file: archive, onReadEntry: (entry) => void entries.set(entry.path, entry) })
  return entries
}

describe('packDirectory', () => {
  it('packs the content at the top level, extractable with the system tar', async () => {
    const app = join(temp, 'app')
    makeApp(app)
    const archive = join(temp, 'release.tar.gz')

    const result = await packDirectory(app, archive)

    const extracted = extract(archive)
    const expected = describeTree(app).filter((line) => !/[ /]\.git( |\/|$)/.test(line))
    expect(describeTree(extracted)).toEqual(expected)
    expect(expected).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^file bin\/start 755 /),
        'link main.js -> server.js',
        'link assets -> public/assets',
        'dir empty 755',
        expect.stringMatching(/^file \.env\.example 644 /),
        expect.stringMatching(/^file public\/assets\/css\/site\.css 644 /),
        expect.stringMatching(/^file vendor\/lib\/index\.js 644 /),
        expect.stringMatching(/^file @scope\/pkg\/index\.js 644 /),
      ]),
    )
    expect(result.entries).toBe(expected.length)
  })

  it('leaves out .git at any depth, whether a directory or a file', async () => {
    const app = join(temp, 'app')
    makeApp(app)
    const archive = join(temp, 'release.tar.gz')
    await packDirectory(app, archive)

    const paths = [...(await listArchive(archive)).keys()]
    expect(paths.filter((p) => p.split('/').includes('.git'))).toEqual([])
    expect(paths).toContain('vendor/lib/index.js')
  })

  it('stores relative, sorted paths and no owner, group or gzip time', async () => {
    const app = join(temp, 'app')
    makeApp(app)
    const archive = join(temp, 'release.tar.gz')
    await packDirectory(app, archive)

    const entries = await listArchive(archive)
    const paths = [...entries.keys()]
    expect(paths.slice(0, 4)).toEqual([
      '.env.example',
      '@scope/',
      '@scope/pkg/',
      '@scope/pkg/index.js',
    ])
    expect(paths.every((p) => !p.startsWith('/') && !p.startsWith('./'))).toBe(true)
    expect(paths.indexOf('bin/')).toBeLessThan(paths.indexOf('bin/start'))
    for (const entry of entries.values()) {
      expect(entry.header.uid ?? 0).toBe(0)
      expect(entry.header.gid ?? 0).toBe(0)
      expect(entry.header.uname ?? '').toBe('')
      expect(entry.header.gname ?? '').toBe('')
    }
    const head = readFileSync(archive).subarray(0, 10)
    expect(head.subarray(0, 2).toString('hex')).toBe('1f8b')
    expect(head.readUInt32LE(4)).toBe(0)
  })

  it('gives byte-identical archives for the same content, whatever the mtimes and order', async () => {
    const first = join(temp, 'first')
    makeApp(first)
    const archiveA = join(temp, 'a.tar.gz')
    await packDirectory(first, archiveA)

    // Same content again: other mtimes, other directory, created in another order, group-writable
    // (umask 002), hard links between equal files.
    for (const file of ['server.js', 'bin/start', 'public/index.html', '.env.example']) {
      utimesSync(join(first, file), new Date('2031-05-06'), new Date('2031-05-06'))
    }
    const second = join(temp, 'second')
    mkdirSync(second)
    for (const name of readdirSync(first).sort().reverse()) {
      cpSync(join(first, name), join(second, name), { recursive: true, verbatimSymlinks: true })
    }
    chmodSync(join(second, 'server.js'), 0o664)
    const archiveB = join(temp, 'b.tar.gz')
    await packDirectory(first, archiveB)
    const archiveC = join(temp, 'c.tar.gz')
    await packDirectory(second, archiveC)

    const sha = await sha256File(archiveA)
    expect(await sha256File(archiveB)).toBe(sha)
    expect(await sha256File(archiveC)).toBe(sha)
    expect(readFileSync(archiveC).equals(readFileSync(archiveA))).toBe(true)

    writeFileSync(join(second, 'twin.js'), 'console.log("hi")\n')
    rmSync(join(second, 'twin.js'))
    linkSync(join(second, 'server.js'), join(second, 'twin.js'))
    const hardLinked = join(temp, 'd.tar.gz')
    await packDirectory(second, hardLinked)
    cpSync(join(second, 'server.js'), join(first, 'twin.js'))
    const copied = join(temp, 'e.tar.gz')
    await packDirectory(first, copied)
    expect(await sha256File(hardLinked)).toBe(await sha256File(copied))
  })

  it('gives a different archive when one byte changes', async () => {
    const app = join(temp, 'app')
    makeApp(app)
    const before = join(temp, 'before.tar.gz')
    await packDirectory(app, before)
    writeFileSync(join(app, 'public/assets/css/site.css'), 'body { color: reb }\n')
    const after = join(temp, 'after.tar.gz')
    await packDirectory(app, after)

    expect(await sha256File(after)).not.toBe(await sha256File(before))
  })

  it('derives each mtime from content: a same-size change gets a new one, others keep theirs', async () => {
    // nginx's ETag is mtime + size: index.html naming other same-length asset hashes must change it.
    const app = join(temp, 'app')
    makeApp(app)
    const before = join(temp, 'before.tar.gz')
    await packDirectory(app, before)
    writeFileSync(join(app, 'public/index.html'), '<script src="main.5e6f7a8b.js"></script>\n')
    const after = join(temp, 'after.tar.gz')
    await packDirectory(app, after)

    const [old, now] = [await listArchive(before), await listArchive(after)]
    const mtime = (entries: Map<string, tar.ReadEntry>, path: string) =>
      entries.get(path)?.mtime?.getTime()
    expect(mtime(now, 'public/index.html')).not.toBe(mtime(old, 'public/index.html'))
    expect(mtime(now, 'server.js')).toBe(mtime(old, 'server.js'))
    const digest = createHash('sha256').update('console.log("hi")\n').digest()
    expect(mtime(now, 'server.js')).toBe(contentMtime(digest).getTime())
    for (const entry of now.values()) {
      if (entry.type !== 'File') continue
      expect(entry.mtime?.getUTCFullYear()).toBeGreaterThanOrEqual(2000)
      expect(entry.mtime?.getUTCFullYear()).toBeLessThanOrEqual(2017)
    }
  })

  it('leaves out excluded paths and the output file itself', async () => {
    const app = join(temp, 'app')
    makeApp(app)
    mkdirSync(join(app, '.deploy-work'))
    writeFileSync(join(app, '.deploy-work/old.tar.gz'), 'old')
    const output = join(app, 'release.tar.gz')
    writeFileSync(output, 'stale archive from an earlier run')

    await packDirectory(app, output, { exclude: [join(app, '.deploy-work')] })

    const paths = [...(await listArchive(output)).keys()]
    expect(paths).not.toContain('release.tar.gz')
    expect(paths.filter((p) => p.startsWith('.deploy-work'))).toEqual([])
    expect(paths).toContain('server.js')
  })

  it('leaves out exactly what the ignore patterns match, with everything below', async () => {
    const app = join(temp, 'app')
    makeApp(app)
    const files = [
      'node_modules/x/index.js',
      'logs/a.log',
      'public/debug.log',
      'src/tmp/t.js',
      'src/index.js',
      'tmp',
      'coverage/lcov.info',
      'docs/coverage/x.md',
    ]
    for (const file of files) {
      mkdirSync(join(app, file, '..'), { recursive: true })
      writeFileSync(join(app, file), file)
    }
    const patterns = splitExclude(
      'node_modules/, *.log, tmp/\n/coverage\npublic/assets/**\n?ain.js\nvendor/*/',
    )
    const archive = join(temp, 'release.tar.gz')

    const result = await packDirectory(app, archive, { ignore: ignoreMatcher(patterns) })

    const paths = [...(await listArchive(archive)).keys()].map((p) => p.replace(/\/$/, ''))
    expect(paths).toEqual([
      '.env.example',
      '@scope',
      '@scope/pkg',
      '@scope/pkg/index.js',
      'assets',
      'bin',
      'bin/start',
      'docs',
      'docs/coverage',
      'docs/coverage/x.md',
      'empty',
      'logs',
      'public',
      'public/assets',
      'public/index.html',
      'server.js',
      'src',
      'src/index.js',
      'tmp',
      'vendor',
    ])
    expect(result.entries).toBe(paths.length)
  })

  it('says what was left out when the patterns leave nothing to pack', async () => {
    const app = join(temp, 'app')
    makeApp(app)
    const ignore = ignoreMatcher(['*'])
    await expect(packDirectory(app, join(temp, 'r.tar.gz'), { ignore })).rejects.toThrow(
      `${app} has nothing to pack (it is empty, or holds only .git and what is excluded)`,
    )
  })

  it('refuses a directory with nothing to pack', async () => {
    const app = join(temp, 'app')
    mkdirSync(join(app, '.git'), { recursive: true })
    await expect(packDirectory(app, join(temp, 'r.tar.gz'))).rejects.toThrow(
      `${app} has nothing to pack (it is empty, or holds only .git)`,
    )
  })
})
