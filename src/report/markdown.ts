/** Markdown for the job summary. Text that came from hosts or inputs is escaped, never trusted. */

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
}

/** Escapes text for a table cell: HTML, pipes, markdown emphasis/links, and line breaks. */
export function cell(text: string): string {
  return (
    text
      .replace(/[&<>"]/g, (c) => HTML_ESCAPES[c] ?? c)
      .replace(/([\\|`*_[\]#!~])/g, '\\$1')
      // A lone CR ends a line in CommonMark too: it would end the table row.
      .replace(/\r\n?|\n/g, '<br>')
  )
}

export function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}

/** Escapes text for raw HTML (e.g. inside `<summary>`), where markdown escapes would show. */
export function html(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c)
}

/**
 * Neutralizes `@user` and `@org/team` mentions: a zero-width joiner after the `@` keeps the text
 * readable but stops GitHub from linking (and notifying) anyone named in remote text. An `@` after
 * a letter or digit (`deploy@web1`) is not a mention and stays as it is, so hosts copy cleanly.
 */
export function noMentions(text: string): string {
  return text.replace(/(?<![A-Za-z0-9])@(?=[A-Za-z0-9])/g, '@\u200d')
}

/**
 * A fenced code block that `text` cannot close: the fence is longer than any run of backticks in
 * it. Nothing inside a code block is read as markdown or HTML.
 */
export function codeBlock(text: string, info = ''): string {
  const longest = (text.match(/`+/g) ?? []).reduce((max, run) => Math.max(max, run.length), 0)
  const fence = '`'.repeat(Math.max(3, longest + 1))
  return `${fence}${info}\n${text}${text.endsWith('\n') ? '' : '\n'}${fence}`
}

/**
 * Remote output made printable: terminal color/control sequences, other control characters and
 * bidi overrides removed, line endings made `\n`.
 */
export function plain(text: string): string {
  return (
    text
      // eslint-disable-next-line no-control-regex
      .replace(/\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]/g, '')
      .replace(/\r\n?/g, '\n')
      // eslint-disable-next-line no-control-regex
      .replace(/[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]/g, '')
  )
}

/** The last `max` characters of `text` (whole code points), after `…` when something was cut. */
export function tail(text: string, max: number): string {
  const chars = Array.from(text)
  return chars.length <= max ? text : `…${chars.slice(chars.length - max).join('')}`
}

/** The first `max` characters of `text` (whole code points), then `…` when something was cut. */
export function head(text: string, max: number): string {
  const chars = Array.from(text)
  return chars.length <= max ? text : `${chars.slice(0, max).join('')}…`
}
