/**
 * The one archive a deploy ships, in the work dir: packed from `release-path` when it is a
 * directory, copied from it when it is a .tar.gz/.tgz, or downloaded from `artifact-url` (which
 * wins over `release-path`, whose default is the workspace itself).
 */
import * as core from '@actions/core'
import { copyFile, mkdir, readFile, rename, rm, stat } from 'node:fs/promises'
import type { Stats } from 'node:fs'
import { join, resolve } from 'node:path'
import { checkArchive } from './archive.js'
import { sha256File } from './checksum.js'
import { downloadArtifact } from './download.js'
import { DEPLOYIGNORE_FILE, ignoreMatcher } from './ignore.js'
import { packDirectory } from './pack.js'

export interface ReleaseArchive {
  /** Absolute path of the .tar.gz on the runner. */
  path: string
  /** Hex sha256 of the archive file. */
  sha256: string
  bytes: number
  /** Where it came from, for the log: 'directory <path>' | 'archive <path>' | 'url <url>'. */
  source: string
}

export interface ReleaseInput {
  /** `release-path`: a directory or a .tar.gz/.tgz, relative to `cwd` unless absolute. */
  releasePath: string
  /** `artifact-url`; '' = ship `releasePath`. */
  artifactUrl: string
  /** The workspace. */
  cwd: string
  /** Where the archive is written (created if missing); kept out of a packed `releasePath`. */
  workDir: string
  /** `exclude`: gitignore patterns left out of a packed directory, before its .deployignore. */
  exclude?: readonly string[]
  /** `artifact-sha256`: the hex sha256 the download must have; '' = not checked. */
  artifactSha256?: string
  /** `artifact-token`: sent as `Authorization: Bearer <token>`; '' = none. Never logged. */
  artifactToken?: string
}

/** Name of the archive in the work dir. */
export const RELEASE_FILE = 'release.tar.gz'
/** Archive names taken as they are. */
const ARCHIVE_NAME = /\.(tar\.gz|tgz)$/i

/** Produces `<workDir>/release.tar.gz` from the input that names the release, and its sha256. */
export async function prepareRelease(input: ReleaseInput): Promise<ReleaseArchive> {
  const workDir = resolve(input.cwd, input.workDir)
  await mkdir(workDir, { recursive: true })
  const output = join(workDir, RELEASE_FILE)

  let source: string
  if (input.artifactUrl !== '') {
    const artifact = await downloadArtifact(input.artifactUrl, workDir, {
      sha256: input.artifactSha256 ?? '',
      token: input.artifactToken ?? '',
    })
    await copyInto(artifact.path, output)
    source = `url ${input.artifactUrl}`
  } else {
    const given = input.releasePath
    const path = resolve(input.cwd, given)
    const stats = await statInput(given, path)
    const exclude = input.exclude ?? []
    if (stats.isDirectory()) {
      core.info(`Packing directory ${path}`)
      const deployignore = await readDeployIgnore(path)
      const patterns = exclude.length > 0 || deployignore !== undefined
      const { entries } = await packDirectory(path, output, {
        // .deployignore never ships, whatever a '!' pattern says.
        exclude: [workDir, join(path, DEPLOYIGNORE_FILE)],
        ...(patterns ? { ignore: ignoreMatcher(exclude, deployignore) } : {}),
      })
      const without = ['.git', ...(patterns ? ['what exclude and .deployignore name'] : [])]
      core.info(`Packed ${entries} entries (without ${without.join(' and ')})`)
      source = `directory ${path}`
    } else if (exclude.length > 0) {
      throw new Error(
        `exclude was given, but release-path '${given}' is not a directory (resolved to ` +
          `${path}); exclude only applies to a directory that the action packs: leave it out, ` +
          `or pack the archive without those files`,
      )
    } else if (stats.isFile() && ARCHIVE_NAME.test(path)) {
      await checkArchive(path, `release-path '${given}'`)
      await copyInto(path, output)
      source = `archive ${path}`
    } else {
      throw new Error(
        `release-path '${given}' is not a directory or a .tar.gz/.tgz archive (resolved to ` +
          `${path}); expected a directory to pack, or a gzip-compressed tar archive named ` +
          `*.tar.gz or *.tgz to ship as is`,
      )
    }
  }

  const [sha256, { size }] = await Promise.all([sha256File(output), stat(output)])
  core.info(`Release archive ${output}: ${formatBytes(size)}, sha256 ${sha256}`)
  return { path: output, sha256, bytes: size, source }
}

/**
 * The text of `<dir>/.deployignore`, read as git reads a .gitignore (undefined when there is no
 * such file).
 */
async function readDeployIgnore(dir: string): Promise<string | undefined> {
  const file = join(dir, DEPLOYIGNORE_FILE)
  try {
    const text = await readFile(file, 'utf8')
    core.info(`Leaving out what ${file} names`)
    return text
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return undefined
    throw new Error(`${file} cannot be read: ${errorText(error)}`, { cause: error })
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

async function statInput(given: string, path: string): Promise<Stats> {
  try {
    return await stat(path)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new Error(`release-path '${given}' does not exist (resolved to ${path})`, {
        cause: error,
      })
    }
    const message = error instanceof Error ? error.message : String(error)
    throw new Error(`release-path '${given}' cannot be read (resolved to ${path}): ${message}`, {
      cause: error,
    })
  }
}

/** Copies through a temp file and a rename: `to` is never a partial file, and may equal `from`. */
async function copyInto(from: string, to: string): Promise<void> {
  const temp = `${to}.tmp-${process.pid}`
  try {
    await copyFile(from, temp)
    await rename(temp, to)
  } catch (error) {
    await rm(temp, { force: true })
    throw error
  }
}

/** `532 B`, `12.4 KiB`, `3.1 MiB`, `1.2 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit += 1
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`
}
