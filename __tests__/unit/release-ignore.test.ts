import { describe, expect, it } from 'vitest'
import { ignoreMatcher, splitExclude } from '../../src/release/ignore.js'

/** Whether `patterns` (a .deployignore's text) leave out `path` (a directory when it ends with '/'). */
function matches(patterns: string, path: string): boolean {
  const directory = path.endsWith('/')
  return ignoreMatcher([], patterns)(directory ? path.slice(0, -1) : path, directory)
}

describe('ignore patterns, as git reads them', () => {
  // Each expectation is what `git check-ignore` (git 2.39) answers for the same pattern and path.
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
    // Regex characters are literal.
    ['a+b(1).js', 'a+b(1).js', true],
    ['a.js', 'abjs', false],
    // Where the hand-written matcher before this one differed from git (CHANGELOG): `src*`
    // matches the directory src, and with it everything in it; braces are literal characters;
    // `\` escapes a leading `#` or `!`.
    ['src*', 'src/x', true],
    ['{a,b}', 'a', false],
    ['{a,b}', '{a,b}', true],
    ['\\#notes', '#notes', true],
    ['\\!important', '!important', true],
  ])('%s on %s: %s', (pattern, path, expected) => {
    expect(matches(pattern, path)).toBe(expected)
  })

  it("re-includes with '!': the last pattern that matches decides", () => {
    const keepOne = '*.log\n!keep.log\n'
    expect(matches(keepOne, 'debug.log')).toBe(true)
    expect(matches(keepOne, 'keep.log')).toBe(false)
    expect(matches(`${keepOne}keep.log\n`, 'keep.log')).toBe(true)
  })

  it('cannot re-include below a directory that is left out, as in git', () => {
    expect(matches('node_modules/\n!node_modules/keep\n', 'node_modules/keep')).toBe(true)
  })

  it('reads .deployignore after exclude: its `!` wins over exclude', () => {
    const matcher = ignoreMatcher(['*.log'], '!audit.log\n')
    expect(matcher('debug.log', false)).toBe(true)
    expect(matcher('audit.log', false)).toBe(false)
  })

  it('skips comments and blank lines, and trailing spaces', () => {
    expect(matches('# dist\n\n', 'dist/')).toBe(false)
    expect(matches('dist/   \n', 'dist/')).toBe(true)
  })
})

describe('the exclude input', () => {
  it('takes one pattern per line or separated by commas, trimmed, without comments', () => {
    const text = '# build leftovers, all of them\n node_modules/, *.log \n\n/coverage\n'
    expect(splitExclude(text)).toEqual(['node_modules/', '*.log', '/coverage'])
  })
})
