import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { format, resolveConfig } from 'prettier'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import {
  ACTION_YML,
  BLOCKS,
  README,
  ROOT,
  codeSpan,
  extractBlock,
  readActionMetadata,
  renderInputsTable,
  renderOutputsTable,
  renderTables,
  replaceBlocks,
} from '../../scripts/docs.js'

const actionYml = readFileSync(ACTION_YML, 'utf8')
const metadata = readActionMetadata(actionYml)

/** What prettier makes of a markdown document, with the project's settings. */
async function prettierMarkdown(markdown: string): Promise<string> {
  const config = (await resolveConfig(README)) ?? {}
  return format(markdown, { ...config, parser: 'markdown' })
}

describe('README tables generated from action.yml', () => {
  it.each(BLOCKS)('README.md %s table matches action.yml', (block) => {
    const readme = readFileSync(README, 'utf8')
    expect(
      extractBlock(readme, block),
      `README.md's ${block} table differs from action.yml: run npm run docs`,
    ).toBe(renderTables(actionYml)[block])
  })

  it.each(BLOCKS)('the %s table is already prettier-formatted', async (block) => {
    const table = `${renderTables(actionYml)[block]}\n`
    expect(await prettierMarkdown(table)).toBe(table)
  })

  it('lists every input and output, in declaration order', () => {
    const tables = renderTables(actionYml)
    const firstColumn = (table: string) =>
      table
        .split('\n')
        .slice(2)
        .map((row) => /^\| `([^`]+)`/.exec(row)?.[1])
    expect(firstColumn(tables.inputs)).toEqual(metadata.inputs.map((i) => i.name))
    expect(firstColumn(tables.outputs)).toEqual(metadata.outputs.map((o) => o.name))
    expect(metadata.inputs.map((i) => i.name).slice(0, 3)).toEqual([
      'hosts',
      'ssh-user',
      'ssh-port',
    ])
    expect(metadata.inputs.filter((i) => i.required).map((i) => i.name)).toEqual([
      'hosts',
      'ssh-key',
      'app-name',
    ])
  })
})

describe('rendering', () => {
  const yml = `
inputs:
  zeta:
    description: >-
      Declared first; a | pipe and
      a folded line.
    required: true
  alpha:
    description: 'Has a default.'
    default: 'a|b'
  '10':
    description: |
      Keeps its place although it looks like an array index.
    default: ''
  tick:
    description: Default with a backtick.
    default: 'x \`y\` z'
outputs:
  result:
    description: What happened | in short.
`

  it('keeps declaration order, escapes pipes, marks required and missing defaults', () => {
    const { inputs, outputs } = readActionMetadata(yml)
    expect(renderInputsTable(inputs).split('\n')).toEqual([
      '| Input   | Default      | Description                                            |',
      '| ------- | ------------ | ------------------------------------------------------ |',
      '| `zeta`  | **required** | Declared first; a \\| pipe and a folded line.           |',
      '| `alpha` | `a\\|b`       | Has a default.                                         |',
      '| `10`    | —            | Keeps its place although it looks like an array index. |',
      '| `tick`  | ``x `y` z``  | Default with a backtick.                               |',
    ])
    expect(renderOutputsTable(outputs).split('\n')).toEqual([
      '| Output   | Description                |',
      '| -------- | -------------------------- |',
      '| `result` | What happened \\| in short. |',
    ])
  })

  it('emits what prettier keeps, also for escaped pipes, code spans and wide characters', async () => {
    const { inputs } = readActionMetadata(yml)
    const extra = ['``x', 'a `b`', ' x ', ' x', 'a|`|`'].map((value, i) => ({
      name: `code-${i}`,
      description: 'Default in a code span.',
      required: false,
      default: value,
    }))
    const wide = { name: 'wide', description: '配置 and ✅ emoji', required: false }
    const table = `${renderInputsTable([...inputs, ...extra, wide])}\n`
    expect(await prettierMarkdown(table)).toBe(table)
  })

  it('code spans survive backticks and spaces, as prettier writes them', () => {
    expect(codeSpan('plain')).toBe('`plain`')
    expect(codeSpan('a `b`')).toBe('`` a `b` ``')
    expect(codeSpan('a `b` c')).toBe('``a `b` c``')
    expect(codeSpan('``x')).toBe('` ``x `')
    expect(codeSpan(' x ')).toBe('`  x  `')
    expect(codeSpan(' x')).toBe('` x`')
  })

  it('replaces only what is between the markers, and refuses missing markers', () => {
    const readme = [
      '# Title',
      '<!-- inputs:start -->',
      'old',
      '<!-- inputs:end -->',
      'between',
      '<!-- outputs:start --><!-- outputs:end -->',
      'after',
      '',
    ].join('\n')
    const updated = replaceBlocks(readme, { inputs: 'IN', outputs: 'OUT' })
    expect(updated).toBe(
      [
        '# Title',
        '<!-- inputs:start -->',
        '',
        'IN',
        '',
        '<!-- inputs:end -->',
        'between',
        '<!-- outputs:start -->',
        '',
        'OUT',
        '',
        '<!-- outputs:end -->',
        'after',
        '',
      ].join('\n'),
    )
    expect(extractBlock(updated, 'inputs')).toBe('IN')
    expect(replaceBlocks(updated, { inputs: 'IN', outputs: 'OUT' })).toBe(updated)
    expect(() => extractBlock('# no markers', 'outputs')).toThrow(/<!-- outputs:start -->/)
  })
})

describe('examples/workflows use only what action.yml declares', () => {
  const dir = join(ROOT, 'examples', 'workflows')
  const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f))
  const inputs = new Set(metadata.inputs.map((i) => i.name))
  const outputs = new Set(metadata.outputs.map((o) => o.name))
  const required = metadata.inputs.filter((i) => i.required).map((i) => i.name)
  const ACTION_REF = /^[^/\s]+\/ssh-zero-downtime-deploy@(.+)$/
  // v5.0.1: checkout runs on node24 from v5 on (v4 runs on node20, which runners retire).
  const CHECKOUT = 'actions/checkout@93cb6efe18208431cddfb8368fd83d5badbf9bfd'

  interface Step {
    id?: string
    uses?: string
    with?: Record<string, unknown>
  }
  type Permissions = Record<string, string> | string | undefined
  interface Job {
    steps?: Step[]
    permissions?: Permissions
    environment?: unknown
  }
  interface Workflow {
    permissions?: Permissions
    jobs: Record<string, Job>
  }

  it('has the example workflows', () => {
    expect(files.sort()).toEqual(
      expect.arrayContaining([
        'canary.yml',
        'deploy.yml',
        'environments.yml',
        'outputs.yml',
        'rollback.yml',
      ]),
    )
  })

  it.each(files)('%s', (file) => {
    const text = readFileSync(join(dir, file), 'utf8')
    const workflow = parse(text) as Workflow
    const steps = Object.values(workflow.jobs).flatMap((job) => job.steps ?? [])
    const actionSteps = steps.filter((s) => ACTION_REF.test(s.uses ?? ''))
    expect(actionSteps.length, `${file} uses the action`).toBeGreaterThan(0)
    for (const step of actionSteps) {
      const ref = ACTION_REF.exec(step.uses ?? '')?.[1]
      expect(ref, `${file}: pin the action by commit SHA`).toMatch(
        /^(?:[0-9a-f]{40}|<40-hex-sha>)$/,
      )
      const keys = Object.keys(step.with ?? {})
      expect(
        keys.filter((key) => !inputs.has(key)),
        `${file}: inputs not declared in action.yml`,
      ).toEqual([])
      expect(
        required.filter((key) => !keys.includes(key)),
        `${file}: required inputs missing`,
      ).toEqual([])
      // Every `steps.<id>.outputs.<name>` of this step names a declared output.
      if (step.id) {
        const used = [...text.matchAll(/steps\.([\w-]+)\.outputs\.([\w-]+)/g)]
          .filter((m) => m[1] === step.id)
          .map((m) => m[2] ?? '')
        expect(
          used.filter((name) => !outputs.has(name)),
          `${file}: outputs not declared in action.yml`,
        ).toEqual([])
      }
    }
    for (const step of steps.filter((s) => s.uses?.startsWith('actions/checkout@'))) {
      expect(step.uses, `${file}: actions/checkout pinned to v5.0.1's SHA`).toBe(CHECKOUT)
    }
    for (const step of actionSteps) {
      // A host name in a secret is masked wherever it appears: every `[host]` prefix becomes ***.
      expect(String(step.with?.hosts), `${file}: hosts from vars., not secrets.`).toMatch(
        /^\$\{\{ vars\.\w+ \}\}$/,
      )
    }
    for (const [name, job] of Object.entries(workflow.jobs)) {
      // Job permissions replace the workflow's; a job without its own gets the workflow's.
      const permissions = job.permissions ?? workflow.permissions
      const writesDeployments =
        typeof permissions === 'object' && permissions.deployments === 'write'
      for (const step of (job.steps ?? []).filter((s) => ACTION_REF.test(s.uses ?? ''))) {
        const recordsDeployment = Boolean(step.with?.environment)
        expect(
          recordsDeployment,
          `${file}: job ${name}: 'environment' input set exactly where deployments: write is granted`,
        ).toBe(writesDeployments)
        if (recordsDeployment) {
          expect(
            job.environment,
            `${file}: job ${name}: the job's environment would record a second Deployment`,
          ).toBeUndefined()
        }
      }
    }
  })

  it('examples and the README pin actions/checkout to a release that runs on node24', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    const refs = [...readme.matchAll(/actions\/checkout@\S+/g)].map((m) => m[0])
    expect(refs.length).toBeGreaterThan(0)
    expect(refs.every((ref) => ref === CHECKOUT)).toBe(true)
    expect(readme).not.toMatch(/hosts: \$\{\{ secrets\./)
  })
})
