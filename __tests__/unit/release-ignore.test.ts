import { describe, expect, it } from 'vitest'
import { isIgnored, parseIgnorePatterns } from '../../src/release/ignore.js'

/** Whether `pattern` leaves out `path` (a directory when it ends with '/'). */
function matches(pattern: string, path: string): boolean {
  const { patterns, problems } = parseIgnorePatterns(pattern, 'lines')
  expect(problems).toEqual([])
  const directory = path.endsWith('/')
  return isIgnored(patterns, directory ? path.slice(0, -1) : path, directory)
}

describe('ignore patterns', () => {
  it.each([
    // A name without '/' matches at any depth.
    ['*.log', 'app.log', true],
    ['*.log', 'logs/deep/app.log', true],
    ['*.log', 'app.log.1', false],
    ['node_modules', 'node_modules/', true],
    ['node_modules', 'packages/a/node_modules/', true],
    ['node_modules', 'node_modules.txt', false],
    // A trailing '/' matches directories only.
    ['tmp/', 'tmp/', true],
    ['tmp/', 'src/tmp/', true],
    ['tmp/', 'tmp', false],
    // A '/' anywhere else anchors at the root of release-path.
    ['/coverage', 'coverage/', true],
    ['/coverage', 'docs/coverage/', false],
    ['docs/drafts', 'docs/drafts/', true],
    ['docs/drafts', 'site/docs/drafts/', false],
    ['docs/*.md', 'docs/a.md', true],
    ['docs/*.md', 'docs/sub/a.md', false],
    // '**' between slashes: any number of directories.
    ['**/tmp', 'tmp', true],
    ['**/tmp', 'a/b/tmp', true],
    ['logs/**', 'logs/a/b.txt', true],
    ['logs/**', 'logs/', false],
    ['a/**/b', 'a/b', true],
    ['a/**/b', 'a/x/y/b', true],
    ['a/**/b', 'a/x/c', false],
    // '?' and sets; nothing crosses a '/'.
    ['?.txt', 'a.txt', true],
    ['?.txt', 'ab.txt', false],
    ['[ab].txt', 'b.txt', true],
    ['[ab].txt', 'c.txt', false],
    ['[!ab].txt', 'c.txt', true],
    ['[a-c]*', 'b-side', true],
    ['src*', 'src/x', false],
    // Regex characters are literal.
    ['a+b(1).js', 'a+b(1).js', true],
    ['a.js', 'abjs', false],
  ])('%s on %s: %s', (pattern, path, expected) => {
    expect(matches(pattern, path)).toBe(expected)
  })

  it('skips blank lines and comments; a file takes one pattern per line, with its line', () => {
    const { patterns, problems } = parseIgnorePatterns(
      '# comment\n\n  dist/  \na,b\n!keep\n',
      'lines',
    )
    expect(patterns.map((p) => p.text)).toEqual(['dist/', 'a,b'])
    expect(problems).toEqual([
      "line 5 '!keep' re-includes with '!', which is not supported (list only what to leave out)",
    ])
  })

  it.each([
    ['/', 'matches nothing (expected a name or path)'],
    ['a//b', "has an empty path segment ('//')"],
    ['./a', "has a '.' or '..' segment (patterns are relative to release-path and stay inside it)"],
    ['dir\\file', "contains '\\' (escapes are not supported; separate with '/')"],
  ])('refuses %s', (pattern, problem) => {
    expect(parseIgnorePatterns(pattern, 'lines').problems).toEqual([
      `line 1 '${pattern}' ${problem}`,
    ])
  })
})
