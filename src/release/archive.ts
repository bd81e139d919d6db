/**
 * Checks of a .tar.gz that the action did not pack itself (`release-path` archive, `artifact-url`),
 * on the runner, so a wrong or broken file fails once here with a clear message instead of on every
 * host during extraction.
 */
import * as core from '@actions/core'
import { open } from 'node:fs/promises'
import * as tar from 'tar'

/** Bytes read to check the gzip magic and to show what the file is instead. */
const HEAD_BYTES = 32

export interface ArchiveFacts {
  /** Entries in the tar stream (directories, files, links). */
  entries: number
  /** The one directory that holds everything (`myapp-1.0`), if the archive is laid out that way. */
  singleTopDirectory: string | undefined
}

/**
 * Reads the whole archive: it must be gzip, hold a valid tar stream with at least one entry, and
 * stay inside the extraction directory (no absolute paths, no `..`). `what` names the input in
 * messages, e.g. `artifact-url 'https://...'`.
 */
export async function inspectArchive(path: string, what: string): Promise<ArchiveFacts> {
  const expected = 'expected a gzip-compressed tar archive (.tar.gz or .tgz)'
  const head = await readHead(path, HEAD_BYTES)
  if (head.length === 0) throw new Error(`${what} is an empty file; ${expected}`)
  if (head[0] !== 0x1f || head[1] !== 0x8b) {
    throw new Error(
      `${what} is not a gzip file (it starts with ${describeBytes(head)}); ${expected}`,
    )
  }
  const paths: string[] = []
  try {
    await tar.list({ file: path, strict: true, onReadEntry: (entry) => paths.push(entry.path) })
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    throw new Error(`${what} is not a valid .tar.gz archive: ${message}`, { cause: error })
  }
  const relative = paths.map(withoutDotPrefix).filter((p) => p !== '')
  if (relative.length === 0) throw new Error(`${what} is an archive with no files in it`)
  const unsafe = paths.find((p) => p.startsWith('/') || p.split('/').includes('..'))
  if (unsafe !== undefined) {
    throw new Error(
      `${what} has an entry outside the directory it is extracted into: '${unsafe}' ` +
        `(expected relative paths without '..')`,
    )
  }
  const tops = new Set(relative.map((p) => p.split('/')[0] ?? ''))
  const [top] = tops
  const nested = tops.size === 1 && relative.some((p) => /^[^/]+\/./.test(p))
  const singleTopDirectory = nested ? top : undefined
  return { entries: paths.length, singleTopDirectory }
}

/**
 * `inspectArchive`, plus a warning when everything sits in one top directory: the release would
 * then be `releases/<version>/<dir>/...`, one level above where `start-command` is run.
 */
export async function checkArchive(path: string, what: string): Promise<ArchiveFacts> {
  const facts = await inspectArchive(path, what)
  if (facts.singleTopDirectory !== undefined) {
    const dir = facts.singleTopDirectory
    core.warning(
      `${what} has all its files under one directory '${dir}/', so on the hosts they land in ` +
        `releases/<version>/${dir}/ and start-command runs one level above them. If that is not ` +
        `intended, pack the content itself: tar -czf app.tar.gz -C ${dir} .`,
    )
  }
  return facts
}

/**
 * The folders (relative to the release root, as asset-path names them) that the archive does not
 * hold as a directory: each needs an entry at or below `<folder>/`.
 */
export async function foldersMissing(path: string, folders: readonly string[]): Promise<string[]> {
  const missing = new Set(folders)
  await tar.list({
    file: path,
    onReadEntry: (entry) => {
      const p = withoutDotPrefix(entry.path)
      for (const folder of missing) {
        if (p.startsWith(`${folder}/`) || (p === folder && entry.type === 'Directory')) {
          missing.delete(folder)
        }
      }
    },
  })
  return [...missing]
}

async function readHead(path: string, length: number): Promise<Buffer> {
  const file = await open(path, 'r')
  try {
    const buffer = Buffer.alloc(length)
    const { bytesRead } = await file.read(buffer, 0, length, 0)
    return buffer.subarray(0, bytesRead)
  } finally {
    await file.close()
  }
}

/** The first bytes as text when they are printable (an HTML page, JSON), else as hex. */
function describeBytes(bytes: Buffer): string {
  const text = bytes.toString('latin1')
  if (/^[\x20-\x7e\t\r\n]+$/.test(text)) {
    return `'${text.replace(/\s+/g, ' ').trim()}${bytes.length === HEAD_BYTES ? '...' : ''}'`
  }
  return bytes
    .subarray(0, 4)
    .toString('hex')
    .replace(/(..)(?!$)/g, '$1 ')
}

function withoutDotPrefix(path: string): string {
  let p = path
  while (p.startsWith('./')) p = p.slice(2)
  return p === '.' ? '' : p
}
