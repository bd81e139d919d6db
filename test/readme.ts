/** Text the tests take from README.md as written there, so that a test fails when it drifts. */
import { readFileSync } from 'node:fs'

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
