/**
 * `artifact-url`: downloads a release archive with @actions/tool-cache and keeps it in the tool
 * cache under a key derived from the URL, so a second deploy of the same URL on the same runner
 * (a re-run on a self-hosted runner, a later step of the same job) does not download it again.
 * The URL should therefore name one immutable build: a URL whose content changes (`latest.tar.gz`)
 * would be served from the cache, unless `artifact-sha256` is given: a cached file with another
 * checksum is then downloaded again, and a download with another checksum fails the run.
 * `artifact-token` goes in an `Authorization: Bearer` header (which @actions/http-client drops on
 * a redirect to another host name); it never appears in a message.
 */
import * as core from '@actions/core'
import * as tc from '@actions/tool-cache'
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checkArchive } from './archive.js'
import { sha256File, sha256Text } from './checksum.js'

/** Tool name in the tool cache; each URL is one "version" of it. */
export const ARTIFACT_TOOL = 'ssh-deploy-artifact'
/** File name of the archive inside its tool cache directory. */
const ARTIFACT_FILE = 'artifact.tar.gz'

export interface DownloadedArtifact {
  /** The archive in the tool cache (read it, do not change it). */
  path: string
  /** True when it was found in the cache and nothing was downloaded. */
  cached: boolean
}

export interface DownloadOptions {
  /** Hex sha256 the archive must have (`artifact-sha256`); '' = not checked. */
  sha256: string
  /** Bearer token for the request (`artifact-token`); '' = none. */
  token: string
}

/**
 * The archive at `url`, from the tool cache or downloaded (into `workDir`, then cached). A
 * download must be a valid .tar.gz (and have `options.sha256`, when given) before it is cached;
 * failures name the URL and HTTP status.
 */
export async function downloadArtifact(
  url: string,
  workDir: string,
  options: DownloadOptions = { sha256: '', token: '' },
): Promise<DownloadedArtifact> {
  ensureRunnerDirs()
  const what = `artifact-url '${url}'`
  const expected = options.sha256.toLowerCase()
  const version = cacheVersion(url)
  const cachedDir = tc.find(ARTIFACT_TOOL, version)
  if (cachedDir !== '' && existsSync(join(cachedDir, ARTIFACT_FILE))) {
    const path = join(cachedDir, ARTIFACT_FILE)
    const actual = expected === '' ? expected : await sha256File(path)
    if (actual === expected) {
      await checkArchive(path, what)
      core.info(`Using ${url} from the tool cache (downloaded earlier): ${path}`)
      return { path, cached: true }
    }
    core.info(
      `The tool cache has ${url} with sha256 ${actual}, not artifact-sha256 ${expected}: downloading it again`,
    )
  }

  core.info(`Downloading ${url}${options.token === '' ? '' : ' (with artifact-token)'}`)
  await mkdir(workDir, { recursive: true })
  const download = join(workDir, `download-${randomUUID()}`)
  try {
    try {
      const auth = options.token === '' ? undefined : `Bearer ${options.token}`
      await tc.downloadTool(url, download, auth)
    } catch (error) {
      throw new Error(downloadFailure(what, error, options.token !== ''), { cause: error })
    }
    if (expected !== '') {
      const actual = await sha256File(download)
      if (actual !== expected) {
        throw new Error(
          `${what}: the download has sha256 ${actual}, but artifact-sha256 is ${expected}; ` +
            `nothing was shipped. Check that the URL names the build you meant (a URL whose ` +
            `content changes, like latest.tar.gz, cannot be pinned), or update artifact-sha256.`,
        )
      }
    }
    await checkArchive(download, what)
    const dir = await tc.cacheFile(download, ARTIFACT_FILE, ARTIFACT_TOOL, version)
    return { path: join(dir, ARTIFACT_FILE), cached: false }
  } finally {
    await rm(download, { force: true })
  }
}

/**
 * The tool cache "version" of a URL: a semver prerelease made of a hash of the URL (the `url-`
 * prefix keeps the identifier alphanumeric even when the hex starts with digits).
 */
export function cacheVersion(url: string): string {
  return `0.0.0-url-${sha256Text(url).slice(0, 32)}`
}

/**
 * @actions/tool-cache asserts that RUNNER_TEMP and RUNNER_TOOL_CACHE are set, and reads them at
 * each call. The Actions runner always sets them; local runs, tests and runner emulators may not,
 * so unset ones are pointed at fixed directories under the OS temp dir (fixed, so a later run on
 * the same machine still finds the cache). Variables that are set are left alone.
 */
export function ensureRunnerDirs(): void {
  const base = join(tmpdir(), 'ssh-zero-downtime-deploy')
  process.env.RUNNER_TEMP ||= join(base, 'temp')
  process.env.RUNNER_TOOL_CACHE ||= join(base, 'tool-cache')
}

function downloadFailure(what: string, error: unknown, withToken: boolean): string {
  if (error instanceof tc.HTTPError && error.httpStatusCode !== undefined) {
    const status = error.httpStatusCode
    const refused = status === 401 || status === 403 || status === 404
    const hint = !refused
      ? ''
      : withToken
        ? ' (artifact-token was sent as an Authorization: Bearer header: check that it is ' +
          'valid and may read this URL)'
        : ' (the URL was fetched without credentials: if it needs them, give artifact-token)'
    return `${what}: download failed with HTTP ${status}${hint}`
  }
  return `${what}: download failed: ${error instanceof Error ? error.message : String(error)}`
}
