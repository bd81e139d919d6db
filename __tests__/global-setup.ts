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
 * it. When the run ends, that dir must be empty and no lab of the run may have left a network
 * namespace, link or cgroup behind; otherwise the run fails (vitest only prints errors thrown by a
 * teardown, so this one sets the exit code). Other runs at the same time have their own dirs.
 */
export default function setup(): () => void {
  const runDir = mkdtempSync(join(tmpdir(), 'dzd-test-'))
  const labLog = `${runDir}.labs`
  writeFileSync(labLog, '')
  process.env.TMPDIR = runDir
  process.env.DZD_LAB_LOG = labLog
  return () => checkLeftovers(runDir, labLog)
}

function checkLeftovers(runDir: string, labLog: string): void {
  const entries = readdirSync(runDir)
  const labs = readFileSync(labLog, 'utf8').split('\n').filter(Boolean)
  const labsLeft = labsLeftBehind(labs)
  const keep = keepTmpRequested() && (entries.length > 0 || labsLeft.length > 0)
  if (!keep) {
    rmSync(runDir, { recursive: true, force: true })
    rmSync(labLog, { force: true })
  }
  const problems = [
    ...entries.map((e) => `left in the temp dir: ${e}`),
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
