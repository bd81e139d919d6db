/**
 * Packs a directory into a gzip-compressed tar archive whose bytes depend on the content only, so
 * the same build packed twice (a re-run, another runner) has the same sha256. The deploy relies on
 * that: a host that already has the version with the same checksum is skipped, and the same
 * version with a different checksum is refused.
 *
 * - Entries in a fixed order (depth first, each directory's names sorted by code unit), relative
 *   to the directory without `./` or a top directory: `tar -xzf release.tar.gz -C dir` puts the
 *   content at the top of `dir`.
 * - npm tar `portable`: no uid/gid, user or group names, atime or ctime; directories carry no
 *   mtime; the gzip header has no time and a fixed OS byte. Modes are kept (executable bits
 *   included) minus group/other write, so runners with umask 002 and 022 pack the same bytes.
 * - File and symlink mtimes are derived from their content (`contentMtime`), not a single fixed
 *   time: nginx builds `ETag` and `Last-Modified` of static files from mtime and size, so with one
 *   fixed mtime a changed file of the same size (index.html naming `main.1a2b3c4d.js` instead of
 *   `main.5e6f7a8b.js`) would be answered `304 Not Modified` and browsers would keep the old one.
 * - Hard links are stored as regular files (the link structure is not content); symlinks are
 *   stored as symlinks with their target as is; sockets, FIFOs and devices are skipped.
 * - `.git` (a directory, or a file in a submodule or worktree) is skipped at any depth, as is
 *   anything under `exclude` (e.g. the work dir that will hold the archive, when it is inside)
 *   and anything the `ignore` matcher leaves out (./ignore.ts: the `exclude` input, .deployignore).
 */
import * as core from '@actions/core'
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { readdir, readlink, rename, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { pipeline } from 'node:stream/promises'
import pLimit from 'p-limit'
import * as tar from 'tar'
import type { IgnoreMatcher } from './ignore.js'

export interface PackOptions {
  /** Absolute paths left out of the archive, with everything below them. */
  exclude?: readonly string[]
  /** Paths (relative to the directory) left out, with everything below them. */
  ignore?: IgnoreMatcher
}

export interface PackResult {
  /** Directories, files and symlinks in the archive. */
  entries: number
}

/** One thing to archive: its path relative to the packed directory (`/`-separated). */
interface Entry {
  path: string
  kind: 'directory' | 'file' | 'symlink'
}

/** Derived mtimes fall in 2000-01-01 .. 2017-01-05 (2^29 seconds): in the past, never 1970. */
const MTIME_BASE_SECONDS = Date.UTC(2000, 0, 1) / 1000
const MTIME_SPAN_SECONDS = 2 ** 29
/** Files hashed at the same time while deriving mtimes. */
const HASH_CONCURRENCY = 8

/**
 * Writes `dir` as a deterministic .tar.gz to `output` (through a temp file next to it, renamed into
 * place, so `output` is never a partial archive). Throws when there is nothing to pack.
 */
export async function packDirectory(
  dir: string,
  output: string,
  options: PackOptions = {},
): Promise<PackResult> {
  const root = resolve(dir)
  const exclude = new Set((options.exclude ?? []).map((path) => resolve(path)))
  exclude.add(resolve(output))
  const entries = await listEntries(root, exclude, options.ignore)
  if (entries.length === 0) {
    const what = options.ignore ? '.git and what is excluded' : '.git'
    throw new Error(`${root} has nothing to pack (it is empty, or holds only ${what})`)
  }
  const mtimes = await deriveMtimes(root, entries)

  const temp = `${output}.tmp-${process.pid}`
  try {
    await writeArchive(root, temp, entries, mtimes)
    await rename(temp, output)
  } catch (error) {
    await rm(temp, { force: true })
    throw error
  }
  return { entries: entries.length }
}

/**
 * Streams the entries through npm tar's `Pack` into `file`. Not `tar.create`: it reads a name
 * starting with `@` as another archive to append, which would break a top-level `@scope` dir.
 */
async function writeArchive(
  root: string,
  file: string,
  entries: readonly Entry[],
  mtimes: ReadonlyMap<string, Date>,
): Promise<void> {
  const pack = new tar.Pack({
    cwd: root,
    gzip: true,
    portable: true,
    noDirRecurse: true,
    linkCache: new NoHardLinks(),
    onWriteEntry: (entry) => {
      const mtime = mtimes.get(entry.path)
      if (mtime !== undefined) entry.mtime = mtime
    },
    onwarn: (_code, message) => core.warning(`Packing ${root}: ${message}`),
  })
  const stream = createWriteStream(file)
  const done = new Promise<void>((resolve, reject) => {
    stream.on('error', reject)
    stream.on('close', resolve)
    pack.on('error', (error: unknown) => {
      stream.destroy()
      reject(error)
    })
  })
  pack.pipe(stream)
  for (const entry of entries) pack.add(entry.path)
  pack.end()
  await done
}

/**
 * The mtime stored for content with this sha256 digest: a time in 2000-2017 picked by the digest,
 * so unchanged files keep their HTTP validators from one release to the next and changed files
 * get new ones (two different contents share an mtime with odds of 1 in 2^29).
 */
export function contentMtime(digest: Buffer): Date {
  const offset = digest.readUInt32BE(0) % MTIME_SPAN_SECONDS
  return new Date((MTIME_BASE_SECONDS + offset) * 1000)
}

/** Every entry below `root` in archive order (directory before its content, names sorted). */
async function listEntries(
  root: string,
  exclude: ReadonlySet<string>,
  ignore: IgnoreMatcher | undefined,
): Promise<Entry[]> {
  const entries: Entry[] = []
  const visit = async (absolute: string, relative: string): Promise<void> => {
    const children = await readdir(absolute, { withFileTypes: true })
    children.sort((a, b) => compareCodeUnits(a.name, b.name))
    for (const child of children) {
      const childAbsolute = join(absolute, child.name)
      if (child.name === '.git' || exclude.has(childAbsolute)) continue
      const path = relative === '' ? child.name : `${relative}/${child.name}`
      if (ignore?.(path, child.isDirectory())) continue
      if (child.isDirectory()) {
        entries.push({ path, kind: 'directory' })
        await visit(childAbsolute, path)
      } else if (child.isFile()) {
        entries.push({ path, kind: 'file' })
      } else if (child.isSymbolicLink()) {
        entries.push({ path, kind: 'symlink' })
      } else {
        core.debug(`Not packed (not a file, directory or symlink): ${childAbsolute}`)
      }
    }
  }
  await visit(root, '')
  return entries
}

/** Content-derived mtimes of files (from their bytes) and symlinks (from their target). */
async function deriveMtimes(root: string, entries: Entry[]): Promise<Map<string, Date>> {
  const limit = pLimit(HASH_CONCURRENCY)
  const pairs = await Promise.all(
    entries
      .filter((entry) => entry.kind !== 'directory')
      .map((entry) =>
        limit(async (): Promise<[string, Date]> => {
          const absolute = join(root, entry.path)
          const hash = createHash('sha256')
          if (entry.kind === 'symlink') hash.update(await readlink(absolute))
          else await pipeline(createReadStream(absolute), hash)
          return [entry.path, contentMtime(hash.digest())]
        }),
      ),
  )
  return new Map(pairs)
}

/** Orders strings by UTF-16 code unit, the same on every machine (unlike localeCompare). */
function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * A link cache that never remembers a file, so npm tar stores every hard-linked file as a regular
 * file: content-identical trees give the same archive whether or not their files share inodes.
 */
class NoHardLinks extends Map<`${number}:${number}`, string> {
  override set(): this {
    return this
  }
}
