/**
 * What a packed `release-path` leaves out: the `exclude` input and the `.deployignore` file at the
 * root of the directory, in a subset of the .gitignore syntax (pure; matched by pack.ts).
 *
 * - One pattern per line (`exclude` also takes commas); blank lines and `#` comments are skipped.
 * - Paths are relative to the packed directory and use `/`.
 * - A pattern without a `/` (other than a trailing one) matches a name at any depth: `*.log`,
 *   `node_modules`. One with a `/` is anchored at the root: `docs/drafts`, `/coverage` (a leading
 *   `/` just anchors).
 * - A trailing `/` matches directories only: `tmp/`.
 * - `*` is any run of characters but `/`, `?` one character but `/`, `[abc]` / `[a-z]` / `[!abc]`
 *   one character of (or not of) the set. `**` as a whole segment (between slashes, or at either
 *   end) stands for any number of directories: all of `logs/**` is under logs.
 * - A matched directory is left out with everything below it.
 * - Not supported, and refused so that nothing is shipped by surprise: `!` (re-including),
 *   `\` escapes, `{a,b}` braces, `.` and `..` segments, `**` inside a segment (`a**`).
 */

/** One parsed pattern. */
export interface IgnorePattern {
  /** As written (trimmed), for messages. */
  text: string
  /** Matches the `/`-separated path relative to the packed directory. */
  regex: RegExp
  /** Trailing `/`: matches directories only. */
  directoryOnly: boolean
}

export interface ParsedPatterns {
  patterns: IgnorePattern[]
  /** What is wrong with each bad pattern, e.g. `'!keep.log' re-includes (...)`. */
  problems: string[]
}

/** The patterns file at the root of a packed directory (itself never shipped). */
export const DEPLOYIGNORE_FILE = '.deployignore'

/**
 * Parses patterns from text. `separators`: `lines` for a .deployignore file, `lines-and-commas`
 * for the `exclude` input. Problems name the pattern (and its line, for a file).
 */
export function parseIgnorePatterns(
  text: string,
  separators: 'lines' | 'lines-and-commas',
): ParsedPatterns {
  const patterns: IgnorePattern[] = []
  const problems: string[] = []
  text.split(/\r?\n/).forEach((rawLine, index) => {
    const line = rawLine.trim()
    if (line === '' || line.startsWith('#')) return
    const items = separators === 'lines' ? [line] : line.split(',')
    for (const item of items.map((i) => i.trim()).filter((i) => i !== '')) {
      const result = compilePattern(item)
      if (typeof result === 'string') {
        const where = separators === 'lines' ? `line ${index + 1} ` : ''
        problems.push(`${where}${quoted(item)} ${result}`)
      } else {
        patterns.push(result)
      }
    }
  })
  return { patterns, problems }
}

/** Whether `path` (relative, `/`-separated) is left out by one of the patterns. */
export function isIgnored(
  patterns: readonly IgnorePattern[],
  path: string,
  directory: boolean,
): boolean {
  return patterns.some((p) => (directory || !p.directoryOnly) && p.regex.test(path))
}

/** The pattern compiled, or what is wrong with it. */
function compilePattern(text: string): IgnorePattern | string {
  if (/\p{Cc}/u.test(text)) return 'contains control characters'
  if (text.startsWith('!')) {
    return "re-includes with '!', which is not supported (list only what to leave out)"
  }
  if (text.includes('\\')) return "contains '\\' (escapes are not supported; separate with '/')"
  if (/[{}]/.test(text)) return "contains '{' or '}' (braces are not supported; list each pattern)"
  const directoryOnly = text.endsWith('/')
  let body = directoryOnly ? text.slice(0, -1) : text
  const anchored = body.includes('/')
  if (body.startsWith('/')) body = body.slice(1)
  if (body === '') return 'matches nothing (expected a name or path)'
  const segments = body.split('/')
  if (segments.some((s) => s === '')) return "has an empty path segment ('//')"
  if (segments.some((s) => s === '.' || s === '..')) {
    return "has a '.' or '..' segment (patterns are relative to release-path and stay inside it)"
  }
  if (segments.some((s) => s !== '**' && s.includes('**'))) {
    return "has '**' inside a segment (expected '**' alone between slashes, like '**/tmp')"
  }
  let source = ''
  for (const [i, segment] of segments.entries()) {
    const last = i === segments.length - 1
    if (segment === '**') {
      source += last ? '.*' : '(?:[^/]+/)*'
      continue
    }
    const converted = segmentSource(segment)
    if (converted === undefined) return "has a '[' without its ']'"
    source += converted + (last ? '' : '/')
  }
  const prefix = anchored ? '^' : '^(?:.*/)?'
  return { text, regex: new RegExp(`${prefix}${source}$`, 'u'), directoryOnly }
}

/** One segment as regex source; undefined when a `[` set is not closed. */
function segmentSource(segment: string): string | undefined {
  let out = ''
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i] ?? ''
    if (c === '*') out += '[^/]*'
    else if (c === '?') out += '[^/]'
    else if (c === '[') {
      const close = segment.indexOf(']', i + 2)
      if (close < 0) return undefined
      let set = segment.slice(i + 1, close)
      const negated = set.startsWith('!') || set.startsWith('^')
      if (negated) set = set.slice(1)
      const escaped = set.replace(/[\\\]^[]/g, '\\$&')
      out += negated ? `[^/${escaped}]` : `[${escaped}]`
      i = close
    } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
  }
  return out
}

function quoted(text: string): string {
  return `'${text.length > 80 ? `${text.slice(0, 77)}...` : text}'`
}
