import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { labsLeftBehind } from '../test/hosts/index.js'
import { KEEP_TMP_VARIABLE, keepTmpRequested } from '../test/tmp.js'

/**
 * Once per test run, whichever projects it runs (the root config's global setup; the e2e
 * project's own, __tests__/build-setup.ts, installs the lab packages and builds dist/index.js):
 * the run gets a temp dir of its own, `<os temp dir>/dzd-test-XXXXXX`, as TMPDIR of every test
 * (and of the bundle and lab hosts they start), and each lab it starts is noted in a file next to
 * it, as is what host scripts left in its hosts' temp dir when it stopped. When the run ends, that
 * dir must be empty, no host script may have left a file in a lab host's temp dir, and no lab of
 * the run may have left a network namespace, link or cgroup behind; otherwise the run fails (vitest only prints errors thrown by a
 * teardown, so this one sets the exit code). Other runs at the same time have their own dirs.
 */
export default function setup(): () => void {
  const runDir = mkdtempSync(join(tmpdir(), 'dzd-test-'))
  const labLog = `${runDir}.labs`
  const hostTmpLog = `${runDir}.host-tmp`
  writeFileSync(labLog, '')
  writeFileSync(hostTmpLog, '')
  process.env.TMPDIR = runDir
  process.env.DZD_LAB_LOG = labLog
  process.env.DZD_HOST_TMP_LOG = hostTmpLog
  return () => checkLeftovers(runDir, labLog, hostTmpLog)
}

function checkLeftovers(runDir: string, labLog: string, hostTmpLog: string): void {
  const entries = readdirSync(runDir)
  const hostEntries = readFileSync(hostTmpLog, 'utf8').split('\n').filter(Boolean)
  rmSync(hostTmpLog, { force: true })
  const labs = readFileSync(labLog, 'utf8').split('\n').filter(Boolean)
  const labsLeft = labsLeftBehind(labs)
  const keep = keepTmpRequested() && (entries.length > 0 || labsLeft.length > 0)
  if (!keep) {
    rmSync(runDir, { recursive: true, force: true })
    rmSync(labLog, { force: true })
  }
  const problems = [
    ...entries.map((e) => `left in the temp dir: ${e}`),
    ...hostEntries.map((e) => `left in a host's temp dir: ${e}`),
    ...labsLeft.map((id) => `lab ${id} left network namespaces, links or cgroups behind`),
  ]
  if (problems.length === 0) return
  console.error(
    `\nThe test run did not clean up after itself (each test removes what it creates):\n` +
      problems.map((p) => `  ${p}\n`).join('') +
      (keep
        ? `  ${KEEP_TMP_VARIABLE}=1: kept ${runDir}\n`
        : `  (removed; ${KEEP_TMP_VARIABLE}=1 keeps them)\n`) +
      (labsLeft.length > 0 ? '  npx tsx test/hosts/cli.ts gc removes labs left behind\n' : ''),
  )
  process.exitCode = 1
}
