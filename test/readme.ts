/** Text the tests take from README.md as written there, so that a test fails when it drifts. */
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'

/**
 * The fenced block after `<!-- <marker> -->` in README.md (with or without a language after the
 * fence), without the list's indentation.
 */
export function readmeBlock(marker: string): string {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  const block = new RegExp(`<!-- ${marker} -->\\s*\`\`\`[a-z]*\\n([\\s\\S]*?)\`\`\``).exec(
    readme,
  )?.[1]
  if (!block) throw new Error(`README.md: no fenced block after <!-- ${marker} -->`)
  return block.replace(/^ {3}/gm, '')
}

/**
 * The inputs of a README recipe: the YAML block after `<!-- <marker> -->`, as a workflow's `with:`
 * gives them to the action (block scalars keep their final newline).
 */
export function readmeInputs(marker: string): Record<string, string> {
  return parse(readmeBlock(marker)) as Record<string, string>
}
