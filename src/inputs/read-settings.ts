/** Inputs from the runner: read, validated, and their secrets masked in the log. */
import * as core from '@actions/core'
import type { InputName } from './defaults.js'
import { parseInputs } from './parse.js'
import { privateKeyProblem } from './private-key.js'
import { InputError } from './reader.js'
import type { Settings } from './settings.js'

/**
 * Reads and validates every input before any host is contacted. Beyond the shape checks of
 * parseInputs, the key is decoded (with its passphrase), so a wrong passphrase is an input problem.
 */
export function readSettings(): Settings {
  const get = (name: string) => core.getInput(name)
  // Each key is decoded unless parseInputs already reported a problem with it or its passphrase.
  const keyProblems = (reported: ReadonlySet<InputName> = new Set()) =>
    (['ssh-key', 'proxy-key'] as const)
      .filter((input) => input === 'ssh-key' || get(input).trim() !== '')
      .filter((input) => !reported.has(input) && !reported.has(`${input}-passphrase`))
      .map((input) => privateKeyProblem(get(input), get(`${input}-passphrase`), input))
      .filter((problem) => problem !== undefined)
  maskRawSecrets(get)
  let settings: Settings
  try {
    settings = parseInputs(get)
  } catch (error) {
    if (!(error instanceof InputError)) throw error
    const problems = keyProblems(error.inputs)
    throw problems.length > 0
      ? new InputError([...error.problems, ...problems], error.inputs)
      : error
  }
  maskSecrets(secretValues(settings))
  const problems = keyProblems()
  if (problems.length > 0) throw new InputError(problems)
  return settings
}

/**
 * The secret values among the settings, for `core.setSecret`: the key and passphrase, the token
 * and every `secret-env` value (not `env`: values from `${{ secrets.* }}` are masked by the runner
 * already, and masking plain ones like `production` garbles the log). Multi-line values are
 * split into lines, since log masking works per line.
 */
export function secretValues(settings: Settings): string[] {
  const values = [
    settings.ssh.privateKey,
    settings.ssh.passphrase,
    settings.ssh.proxyKey,
    settings.ssh.proxyPassphrase,
    settings.github.token,
    settings.app.artifactToken,
    ...Object.values(settings.app.secretEnv),
  ]
  const lines = values.flatMap((value) => value.split('\n')).map((line) => line.trim())
  return [...new Set(lines.filter((line) => line !== ''))]
}

/** Masks secrets as given, before parsing, so no message about a bad input can show them. */
function maskRawSecrets(get: (name: string) => string): void {
  const envValues = get('secret-env')
    .split('\n')
    .filter((line) => line.includes('='))
    .map((line) => line.slice(line.indexOf('=') + 1))
  maskSecrets([
    get('ssh-key'),
    get('ssh-key-passphrase'),
    get('github-token'),
    get('artifact-token'),
    ...envValues,
  ])
  maskSecrets([get('proxy-key'), get('proxy-key-passphrase')])
}

/**
 * Masks every line of each value. Lines under 4 characters are left alone: masking `1` or `on`
 * would star out digits and words in every log line, and such values are not secrets anyway.
 */
function maskSecrets(values: string[]): void {
  values
    .flatMap((value) => value.split('\n'))
    .map((line) => line.trim())
    .filter((line) => line.length >= 4)
    .forEach((line) => core.setSecret(line))
}
