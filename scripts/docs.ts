/**
 * `npm run docs`: renders the input and output tables from action.yml and writes them into
 * README.md between `<!-- inputs:start -->` / `<!-- inputs:end -->` and `<!-- outputs:start -->` /
 * `<!-- outputs:end -->`. The rendering is pure and exported, so a unit test can check that the
 * README still matches action.yml.
 *
 * The tables come out exactly as prettier prints them (columns padded to the widest cell), so
 * `prettier --check README.md` passes right after a run without reformatting anything.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { util } from 'prettier'
import { parse } from 'yaml'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
export const README = join(ROOT, 'README.md')
export const ACTION_YML = join(ROOT, 'action.yml')

/** The generated blocks of README.md, by marker name. */
export type Block = 'inputs' | 'outputs'
export const BLOCKS: readonly Block[] = ['inputs', 'outputs']

export interface ActionInput {
  name: string
  description: string
  required: boolean
  /** undefined or '' when the input has no default. */
  default?: string
}

export interface ActionOutput {
  name: string
  description: string
}

export interface ActionMetadata {
  inputs: ActionInput[]
  outputs: ActionOutput[]
}

/** Reads inputs and outputs from action.yml text, in declaration order. */
export function readActionMetadata(yamlText: string): ActionMetadata {
  const doc: unknown = parse(yamlText, { mapAsMap: true })
  if (!(doc instanceof Map)) throw new Error('action.yml: expected a mapping at the top level')
  return {
    inputs: entries(doc, 'inputs').map(([name, spec]) => ({
      name,
      description: text(spec.get('description'), `inputs.${name}.description`),
      required: spec.get('required') === true || spec.get('required') === 'true',
      default: optionalText(spec.get('default'), `inputs.${name}.default`),
    })),
    outputs: entries(doc, 'outputs').map(([name, spec]) => ({
      name,
      description: text(spec.get('description'), `outputs.${name}.description`),
    })),
  }
}

function entries(doc: Map<unknown, unknown>, section: string): [string, Map<unknown, unknown>][] {
  const map = doc.get(section)
  if (map === undefined || map === null) return []
  if (!(map instanceof Map)) throw new Error(`action.yml: '${section}' is not a mapping`)
  return [...map.entries()].map(([key, value]) => {
    if (typeof key !== 'string') throw new Error(`action.yml: ${section} has a non-string key`)
    if (!(value instanceof Map)) throw new Error(`action.yml: ${section}.${key} is not a mapping`)
    return [key, value]
  })
}

function text(value: unknown, where: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new Error(`action.yml: ${where} is missing or not text`)
  }
  return value
}

function optionalText(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  throw new Error(`action.yml: ${where} is not a scalar`)
}

/** Prose for a table cell: one line, whitespace collapsed, `|` escaped. */
export function cellText(value: string): string {
  return value.trim().replace(/\s+/g, ' ').replaceAll('|', '\\|')
}

/**
 * A code span for any content, written the way prettier writes it: the fence is the shortest run
 * of backticks that does not occur inside, padded with spaces only when the content needs them;
 * `|` is escaped (a table cell would end there) and line breaks become spaces.
 */
export function codeSpan(value: string): string {
  const content = value.replace(/\r?\n/g, ' ')
  const runs = new Set((content.match(/`+/g) ?? []).map((run) => run.length))
  let fenceLength = 1
  while (runs.has(fenceLength)) fenceLength++
  const fence = '`'.repeat(fenceLength)
  const pad =
    content.startsWith('`') ||
    content.endsWith('`') ||
    (/^ /.test(content) && / $/.test(content) && /[^ ]/.test(content))
      ? ' '
      : ''
  return `${fence}${pad}${content.replaceAll('|', '\\|')}${pad}${fence}`
}

/** A GitHub-flavoured markdown table, columns padded the way prettier prints them. */
export function markdownTable(header: readonly string[], rows: readonly string[][]): string {
  const all = [header, ...rows]
  for (const row of rows) {
    if (row.length !== header.length) throw new Error('markdownTable: row width differs')
  }
  const widths = header.map((_, column) =>
    Math.max(3, ...all.map((row) => util.getStringWidth(row[column] ?? ''))),
  )
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, i) => cell + ' '.repeat((widths[i] ?? 0) - util.getStringWidth(cell))).join(' | ')} |`
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

export function renderInputsTable(inputs: readonly ActionInput[]): string {
  return markdownTable(
    ['Input', 'Default', 'Description'],
    inputs.map((input) => [
      codeSpan(input.name),
      input.required
        ? '**required**'
        : input.default === undefined || input.default === ''
          ? '—'
          : codeSpan(input.default),
      cellText(input.description),
    ]),
  )
}

export function renderOutputsTable(outputs: readonly ActionOutput[]): string {
  return markdownTable(
    ['Output', 'Description'],
    outputs.map((output) => [codeSpan(output.name), cellText(output.description)]),
  )
}

/** Both tables for action.yml text: what belongs between each pair of markers (pure). */
export function renderTables(actionYml: string): Record<Block, string> {
  const { inputs, outputs } = readActionMetadata(actionYml)
  return { inputs: renderInputsTable(inputs), outputs: renderOutputsTable(outputs) }
}

const startMarker = (block: Block) => `<!-- ${block}:start -->`
const endMarker = (block: Block) => `<!-- ${block}:end -->`

function markerRange(readme: string, block: Block): { from: number; to: number } {
  const start = startMarker(block)
  const end = endMarker(block)
  const from = readme.indexOf(start)
  const to = readme.indexOf(end)
  if (from < 0 || to < 0 || to < from || readme.indexOf(start, from + 1) >= 0) {
    throw new Error(`README.md needs exactly one '${start}' followed by '${end}'`)
  }
  return { from: from + start.length, to }
}

/** The table currently between a block's markers in README text. */
export function extractBlock(readme: string, block: Block): string {
  const { from, to } = markerRange(readme, block)
  return readme.slice(from, to).trim()
}

/** README text with each block's markers enclosing its table (blank lines around, as prettier keeps). */
export function replaceBlocks(readme: string, tables: Record<Block, string>): string {
  let result = readme
  for (const block of BLOCKS) {
    const { from, to } = markerRange(result, block)
    result = `${result.slice(0, from)}\n\n${tables[block]}\n\n${result.slice(to)}`
  }
  return result
}

function main(): void {
  const readme = readFileSync(README, 'utf8')
  const updated = replaceBlocks(readme, renderTables(readFileSync(ACTION_YML, 'utf8')))
  if (updated === readme) {
    console.log('README.md: input and output tables already match action.yml')
    return
  }
  writeFileSync(README, updated)
  console.log('README.md: input and output tables updated from action.yml')
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main()
