/**
 * `npm run lint:shell`: checks every script the action runs on a host (test/host-scripts.ts) with
 * shellcheck as POSIX sh (`shellcheck -s sh`, Debian's package; `.ci/run` installs it), the way
 * eslint checks the TypeScript. The scripts are written to a temp dir named after their builders,
 * so each finding names the script (`slot.ts--builtin-start.sh:12:3: ...`). Exits 1 on any
 * finding; a finding that is right to keep is disabled in the script itself, with the reason.
 * One check is off for all: SC2317 (command appears unreachable). The scripts share libraries of
 * functions (PROCESS_FUNCTIONS, HTTP_FUNCTIONS, SLOT_FUNCTIONS...) and each calls only some of
 * them; shellcheck calls the others unreachable.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hostScripts } from '../test/host-scripts.js'

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), 'dzd-lint-shell-'))
  try {
    const files = hostScripts().map(({ file, name, body }) => {
      const path = join(dir, `${file}--${name.replace(/\W+/g, '-')}.sh`)
      writeFileSync(path, body.startsWith('#!') ? body : `#!/bin/sh\n${body}\n`)
      return path
    })
    const result = spawnSync(
      'shellcheck',
      ['--shell=sh', '--format=gcc', '--exclude=SC2317', ...files],
      {
        encoding: 'utf8',
      },
    )
    if (result.error) {
      console.error(
        `shellcheck could not run (${result.error.message}): install it (Debian: apt-get install shellcheck)`,
      )
      process.exit(2)
    }
    const findings = result.stdout.replaceAll(`${dir}/`, '').trim()
    if (findings) console.log(findings)
    if (result.status !== 0) {
      console.error(
        `shellcheck: ${findings.split('\n').length} finding(s) in ${files.length} scripts`,
      )
      process.exit(1)
    }
    console.log(`shellcheck: ${files.length} host scripts, no finding`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

main()
