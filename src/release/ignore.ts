/**
 * What a packed `release-path` leaves out: the `exclude` input, then the `.deployignore` file at
 * the root of the directory, in the gitignore syntax as git reads it (the npm `ignore` package,
 * which eslint and prettier use: `!` re-includes, `\` escapes, `**`, sets, trailing spaces). As
 * in git, the last pattern that matches a path decides, and a directory left out goes with
 * everything in it (nothing below it can be re-included). `.git` and `.deployignore` itself never
 * ship, whatever `!` says (pack.ts and prepare.ts leave them out before any pattern is asked).
 */
import ignore from 'ignore'

/** The patterns file at the root of a packed directory (itself never shipped). */
export const DEPLOYIGNORE_FILE = '.deployignore'

/** Whether a path, relative to the packed directory and `/`-separated, is left out. */
export type IgnoreMatcher = (path: string, directory: boolean) => boolean

/**
 * The `exclude` input as gitignore lines: one pattern per line or separated by commas (so a
 * comma in a name is written `[,]`), each trimmed; blank lines and `#` comments skipped.
 */
export function splitExclude(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .flatMap((line) => line.split(','))
    .map((item) => item.trim())
    .filter((item) => item !== '')
}

/**
 * The matcher of `exclude` then `deployignore` (the file's text, read as git reads a
 * .gitignore). A directory is asked with a trailing `/`, so that `tmp/` matches only directories.
 */
export function ignoreMatcher(exclude: readonly string[], deployignore = ''): IgnoreMatcher {
  const rules = ignore().add(exclude).add(deployignore)
  return (path, directory) => rules.ignores(directory ? `${path}/` : path)
}
