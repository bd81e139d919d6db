/** Markdown for the job summary. Text that came from hosts or inputs is escaped, never trusted. */

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
}

/** Escapes text for a table cell: HTML, pipes, markdown emphasis/links, and line breaks. */
export function cell(text: string): string {
  return text
    .replace(/[&<>"]/g, (c) => HTML_ESCAPES[c] ?? c)
    .replace(/([\\|`*_[\]#!~])/g, '\\$1')
    .replace(/\r?\n/g, '<br>')
}

export function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}
