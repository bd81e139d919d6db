/**
 * The asset-path scripts (remote/commands/assets.ts), run here by dash (Debian's /bin/sh) on a
 * deploy path in a temp dir: what is linked where, what is never linked, what goes at pruning and
 * when a failed run takes its links back.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { assetsNote, assetsOutcome, warnAssetClashes } from '../../src/deploy/assets.js'
import {
  bridgeAssets,
  parseBridge,
  pruneAssetLinks,
  unlinkAssets,
  unlinkedCount,
} from '../../src/remote/commands/assets.js'
import { layout } from '../../src/remote/layout.js'
import { emptyHostReport } from '../../src/report/model.js'
import type { Shell } from '../../src/remote/shell.js'
import { tempDir } from '../../test/tmp.js'

const FOLDERS = ['public/assets']

function run(shell: Shell): string {
  const r = spawnSync('dash', ['-c', shell.text], { encoding: 'utf8' })
  expect(r.stderr).toBe('')
  expect(r.status).toBe(0)
  return r.stdout
}

/** A release with `files` (path relative to the release: content). */
function release(root: string, version: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    const file = join(root, 'releases', version, path)
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, content)
  }
}

const inode = (root: string, version: string, path: string) =>
  statSync(join(root, 'releases', version, path)).ino

describe('bridgeAssets', () => {
  it('links the kept releases’ own files into the target and the target’s into the live one', () => {
    const root = tempDir('assets-')
    const l = layout(root)
    release(root, 'v1', {
      'public/assets/app-1.js': 'one',
      'public/assets/app.js': 'undigested one',
      'public/assets/logo.svg': 'logo one',
    })
    release(root, 'v2', {
      'public/assets/app-2.js': 'two',
      'public/assets/chunks/lazy-2.js': 'lazy two',
      'public/assets/.manifest.json': '{"v":2}',
      'public/assets/app.js': 'undigested two',
      'server.js': 'v2',
    })
    release(root, 'v3', {
      'public/assets/app-3.js': 'three',
      'public/assets/.manifest.json': '{"v":3}',
      'public/assets/app.js': 'undigested three',
      'public/assets/logo.svg': 'logo three',
    })
    const bridge = () =>
      parseBridge(
        run(
          bridgeAssets({
            layout: l,
            target: 'v3',
            live: 'v2',
            sources: ['v2', 'v1'],
            folders: FOLDERS,
          }),
        ),
      )

    expect(bridge()).toEqual({
      files: 3,
      linked: [
        { into: 'v3', from: 'v2', files: 2 },
        { into: 'v3', from: 'v1', files: 1 },
        { into: 'v2', from: 'v3', files: 2 },
      ],
      // app.js is in every kept release (phx.digest): not counted; logo.svg (v1, v3) is.
      clashes: { names: 1, first: 'public/assets/logo.svg' },
      done: true,
    })
    for (const [from, path] of [
      ['v2', 'public/assets/app-2.js'],
      ['v2', 'public/assets/chunks/lazy-2.js'],
      ['v1', 'public/assets/app-1.js'],
    ] as const) {
      expect(inode(root, 'v3', path)).toBe(inode(root, from, path))
    }
    expect(inode(root, 'v2', 'public/assets/app-3.js')).toBe(
      inode(root, 'v3', 'public/assets/app-3.js'),
    )
    // Each keeps its own: a same name is never replaced, a dotfile never linked, nothing outside.
    const read = (v: string, p: string) => readFileSync(join(root, 'releases', v, p), 'utf8')
    expect(read('v3', 'public/assets/logo.svg')).toBe('logo three')
    expect(read('v2', 'public/assets/logo.svg')).toBe('logo three')
    expect(read('v3', 'public/assets/app.js')).toBe('undigested three')
    expect(read('v3', 'public/assets/.manifest.json')).toBe('{"v":3}')
    expect(read('v2', 'public/assets/.manifest.json')).toBe('{"v":2}')
    expect(existsSync(join(root, 'releases/v3/server.js'))).toBe(false)
    // A second run links nothing more: each release's own list was made before any link.
    expect(bridge()).toMatchObject({ files: 3, linked: [], done: true })
  })

  it('pruning drops the links of releases no longer kept; a failed run takes back what it gave the live one', () => {
    const root = tempDir('assets-')
    const l = layout(root)
    release(root, 'v1', { 'public/assets/app-1.js': 'one' })
    release(root, 'v2', { 'public/assets/app-2.js': 'two' })
    release(root, 'v3', { 'public/assets/app-3.js': 'three', 'public/assets/deep/x-3.js': 'x' })
    const bridge = (target: string, live: string, sources: string[]) =>
      run(bridgeAssets({ layout: l, target, live, sources, folders: FOLDERS }))
    bridge('v2', 'v1', ['v1'])
    bridge('v3', 'v2', ['v2', 'v1'])
    expect(existsSync(join(root, 'releases/v3/public/assets/app-1.js'))).toBe(true)

    // v1 pruned (its directory gone, then the links to it).
    spawnSync('rm', ['-rf', join(root, 'releases/v1')])
    expect(unlinkedCount(run(pruneAssetLinks(l, ['v3', 'v2'])))).toBe(2)
    expect(existsSync(join(root, 'releases/v3/public/assets/app-1.js'))).toBe(false)
    expect(existsSync(join(root, 'releases/v2/public/assets/app-1.js'))).toBe(false)
    expect(existsSync(join(root, 'releases/v3/public/assets/app-2.js'))).toBe(true)
    expect(existsSync(join(root, '.deploy/assets/v1.own'))).toBe(false)

    // v3 failed before any reload: v2 gives back v3's files, the directory they needed too.
    expect(unlinkedCount(run(unlinkAssets(l, 'v2', 'v3')))).toBe(2)
    expect(existsSync(join(root, 'releases/v2/public/assets/app-3.js'))).toBe(false)
    expect(existsSync(join(root, 'releases/v2/public/assets/deep'))).toBe(false)
    expect(existsSync(join(root, 'releases/v2/public/assets/app-2.js'))).toBe(true)
    expect(readFileSync(join(root, '.deploy/assets/v2.linked'), 'utf8')).toBe('')
  })

  it('gives a live release without the folders the new files; pruning without lists is a no-op', () => {
    const root = tempDir('assets-')
    const l = layout(root)
    release(root, 'v1', { 'server.js': 'v1' })
    release(root, 'v2', { 'public/assets/app-2.js': 'two' })
    expect(run(pruneAssetLinks(l, ['v1']))).toBe('')
    const out = parseBridge(
      run(bridgeAssets({ layout: l, target: 'v2', live: 'v1', sources: ['v1'], folders: FOLDERS })),
    )
    expect(out).toEqual({ files: 1, linked: [{ into: 'v1', from: 'v2', files: 1 }], done: true })
    expect(inode(root, 'v1', 'public/assets/app-2.js')).toBe(
      inode(root, 'v2', 'public/assets/app-2.js'),
    )
  })
})

describe('what the runner makes of a bridge', () => {
  afterEach(() => vi.restoreAllMocks())

  it('one log line per host: what came from where, and what the live release got', () => {
    const result = parseBridge(
      'FILES 1180\nLINKED v3 v2 1000\nLINKED v3 v1 204\nLINKED v2 v3 1180\nBRIDGED\n',
    )
    const outcome = assetsOutcome(result, 'v3', 'v2')
    expect(outcome).toEqual({
      files: 1180,
      linked: 1204,
      from: ['v2', 'v1'],
      intoLive: { version: 'v2', files: 1180 },
      clashes: 0,
    })
    expect(assetsNote(outcome, 'v3')).toBe(
      '1,204 file(s) of v2, v1 linked into v3 (its own: 1,180); 1,180 of v3 into v2 (live)',
    )
    const first = assetsOutcome(parseBridge('FILES 3\nBRIDGED\n'), 'v1', null)
    expect(assetsNote(first, 'v1')).toBe('nothing to link into v1 (its own: 3 file(s))')
  })

  it('warns once per run about names with two contents, whatever the number of hosts', () => {
    const written: string[] = []
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk))
      return true
    })
    const clash = parseBridge('FILES 3\nCLASH 2 public/assets/logo.svg\nBRIDGED\n')
    const host = (name: string) => ({
      ...emptyHostReport(name),
      assets: assetsOutcome(clash, 'v3', 'v2'),
    })
    warnAssetClashes([host('web1'), host('web2'), emptyHostReport('web3')])
    expect(written).toEqual([
      "::warning::asset-path: 2 file name(s) have different content in two kept releases (public/assets/logo.svg, ...; on 2 host(s)): each release keeps its own, so a page of one version may get the other's file from the other slot. Fingerprint them (a content hash in the name), as the bundlers' production builds do.\n",
    ])
    written.length = 0
    warnAssetClashes([emptyHostReport('web1')])
    expect(written).toEqual([])
  })
})
