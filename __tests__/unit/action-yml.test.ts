import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { INPUT_DEFAULTS } from '../../src/inputs/defaults.js'
import { parseInputs } from '../../src/inputs/parse.js'

/**
 * The outputs DESIGN.md promises (plus `planned` as a status value for dry runs), and the watch's
 * verdict (issue 21).
 */
const OUTPUTS = [
  'status',
  'version',
  'previous-version',
  'live-slot',
  'previous-slot',
  'hosts',
  'duration-seconds',
  'deployment-id',
  'url',
  'watch-verdict',
]
const REQUIRED_INPUTS = ['hosts', 'ssh-key', 'app-name']

type Node = string | { [key: string]: Node }

/**
 * Reads the YAML subset action.yml is written in: nested maps by indentation, plain and quoted
 * scalars, `>-` / `|-` block scalars, `#` comment lines. Anything else (lists, flow collections,
 * anchors, duplicate keys) is an error, so the file cannot drift into syntax this test misreads.
 */
function readYamlSubset(text: string): Record<string, Node> {
  const lines = text.split('\n')
  let index = 0
  const indentOf = (line: string) => line.length - line.trimStart().length
  const skippable = (line: string) => line.trim() === '' || line.trimStart().startsWith('#')
  const fail = (why: string): never => {
    throw new Error(`action.yml line ${index + 1}: ${why}: ${JSON.stringify(lines[index])}`)
  }

  function scalar(raw: string): string {
    if (raw.startsWith("'")) {
      if (!/^'(?:[^']|'')*'$/.test(raw)) fail('bad single-quoted scalar')
      return raw.slice(1, -1).replaceAll("''", "'")
    }
    if (raw.startsWith('"')) return JSON.parse(raw) as string
    if (/^[>|&*!{[-]/.test(raw)) fail('unsupported YAML')
    return raw.replace(/\s+#.*$/, '')
  }

  function blockScalar(parentIndent: number, style: string): string {
    const body: string[] = []
    while (index < lines.length) {
      const line = lines[index] ?? ''
      if (line.trim() !== '' && indentOf(line) <= parentIndent) break
      body.push(line.trim())
      index++
    }
    const text = body.join('\n').trim()
    return style === '>-' ? text.replace(/([^\n])\n(?=[^\n])/g, '$1 ') : text
  }

  function map(indent: number): Record<string, Node> {
    const result: Record<string, Node> = {}
    while (index < lines.length) {
      const line = lines[index] ?? ''
      if (skippable(line)) {
        index++
        continue
      }
      if (indentOf(line) < indent) break
      if (indentOf(line) > indent) fail('unexpected indentation')
      const match = /^([A-Za-z0-9_-]+):(?: +(.*))?$/.exec(line.trim())
      if (!match) return fail('not a `key: value` line')
      const [, key = '', rest = ''] = match
      if (Object.hasOwn(result, key)) fail(`duplicate key '${key}'`)
      index++
      if (rest === '>-' || rest === '|-') {
        result[key] = blockScalar(indent, rest)
      } else if (rest !== '') {
        result[key] = scalar(rest)
      } else {
        while (index < lines.length && skippable(lines[index] ?? '')) index++
        const childIndent = indentOf(lines[index] ?? '')
        if (childIndent <= indent) fail(`key '${key}' has no value`)
        result[key] = map(childIndent)
      }
    }
    return result
  }

  return map(0)
}

function mapAt(node: Node | undefined, what: string): Record<string, Node> {
  if (node === undefined || typeof node === 'string') throw new Error(`${what} is not a map`)
  return node
}

const action = readYamlSubset(readFileSync(new URL('../../action.yml', import.meta.url), 'utf8'))
const inputs = mapAt(action.inputs, 'inputs')
const outputs = mapAt(action.outputs, 'outputs')

describe('action.yml', () => {
  it('names and brands the action', () => {
    expect(action.name).toEqual(expect.stringMatching(/\S/))
    expect(action.description).toEqual(expect.stringMatching(/\S/))
    expect(action.branding).toEqual({ icon: expect.any(String), color: expect.any(String) })
  })

  it('has a description the Marketplace accepts: one line, under 125 characters', () => {
    const description = String(action.description)
    expect(description).not.toContain('\n')
    expect(description.length).toBeLessThan(125)
  })

  it('runs dist/index.js on node24, with a post step for cleanup', () => {
    expect(action.runs).toEqual({
      using: 'node24',
      main: 'dist/index.js',
      post: 'dist/index.js',
      'post-if': 'always()',
    })
  })

  it('declares exactly the inputs src/inputs/ reads', () => {
    expect(Object.keys(inputs).sort()).toEqual(Object.keys(INPUT_DEFAULTS).sort())
  })

  it.each(Object.keys(inputs))('declares input %s with a description and its default', (name) => {
    const input = mapAt(inputs[name], name)
    expect(
      Object.keys(input).every((key) => ['description', 'default', 'required'].includes(key)),
    ).toBe(true)
    expect(input.description).toEqual(expect.stringMatching(/\S.*\S/))
    expect(input.default ?? '').toBe(INPUT_DEFAULTS[name as keyof typeof INPUT_DEFAULTS])
    if (REQUIRED_INPUTS.includes(name)) {
      expect(input).toMatchObject({ required: 'true' })
      expect(input.default).toBeUndefined()
    } else {
      expect(input.required).toBeUndefined()
      expect(input.default).toBeDefined()
    }
  })

  it('declares exactly the outputs of DESIGN.md, each with a description', () => {
    expect(Object.keys(outputs)).toEqual(OUTPUTS)
    for (const name of OUTPUTS) {
      expect(mapAt(outputs[name], name)).toEqual({ description: expect.stringMatching(/\S.*\S/) })
    }
  })

  it('has defaults that parse, given the required inputs', () => {
    const required: Record<string, string> = {
      hosts: 'web1',
      'ssh-key': ['-----BEGIN RSA PRIVATE KEY-----', 'AAAA', '-----END RSA PRIVATE KEY-----'].join(
        '\n',
      ),
      'known-hosts': 'web1 ssh-ed25519 AAAA',
      'app-name': 'shop',
      'start-command': 'node server.js',
    }
    const get = (name: string) => {
      const fallback = mapAt(inputs[name], name).default
      const value = required[name] ?? (typeof fallback === 'string' ? fallback : '')
      return value.includes('${{') ? '' : value
    }
    expect(() => parseInputs(get)).not.toThrow()
  })
})
