/**
 * Reading inputs and collecting problems: every input is read once, a problem is recorded and
 * reading goes on with a fallback value, so one `InputError` names every problem at once.
 */
import { FINGERPRINT_LIKE, parseFingerprintPin } from '../ssh/known-hosts.js'
import { INPUT_DEFAULTS, type InputName } from './defaults.js'
import { HOST_FORMAT, hostAddress, show, type HostDefaults, type Parser } from './parsers.js'
import type { HostAddress } from './settings.js'

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/
const PRIVATE_KEY_PEM =
  /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\n[\s\S]+\n-----END [A-Z0-9 ]*PRIVATE KEY-----/

/** Environment variables the action sets for every slot; `env` may not override them. */
const SLOT_ENV_KEYS: readonly string[] = [
  'PORT',
  'SLOT',
  'APP_VERSION',
  'RELEASE_DIR',
  'DEPLOY_PATH',
  'RELEASE_NODE',
]

/** One or more inputs are invalid; `problems` names each one. */
export class InputError extends Error {
  constructor(
    readonly problems: readonly string[],
    /** The inputs the problems are about (each problem's first-named input). */
    readonly inputs: ReadonlySet<InputName> = new Set(),
  ) {
    const count = `${problems.length} problem${problems.length === 1 ? '' : 's'}`
    super(`Invalid inputs (${count}):\n${problems.map((p) => `- ${p}`).join('\n')}`)
    this.name = 'InputError'
  }
}

export class InputReader {
  readonly problems: string[] = []
  private readonly invalid = new Set<InputName>()
  /** Every input a problem was reported for, by its own check or by a combination rule. */
  readonly flagged = new Set<InputName>()

  constructor(private readonly get: (name: string) => string) {}

  /** The trimmed value, or the input's default when empty (expressions like `${{ }}` give ''). */
  text(name: InputName): string {
    const value = this.get(name).trim()
    if (value !== '') return value
    const fallback = INPUT_DEFAULTS[name]
    return fallback.includes('${{') ? '' : fallback
  }

  /** The parsed value; on a problem, records it and returns `fallback` so reading continues. */
  field<T>(name: InputName, parse: Parser<T>, fallback: T): T {
    const text = this.text(name)
    const result = parse(text)
    if (result.ok) return result.value
    if (text === '') {
      return this.fail(name, fallback, `Input '${name}' is required (expected ${result.expected}).`)
    }
    return this.fail(
      name,
      fallback,
      `Input '${name}': ${show(text)} ${result.problem} (expected ${result.expected}).`,
    )
  }

  /** A problem of a rule that involves more than one input; `input` is the one it names first. */
  report(input: InputName, problem: string): void {
    this.flagged.add(input)
    this.problems.push(problem)
  }

  /** Whether none of `names` had a problem (combination rules skip inputs already reported). */
  valid(...names: InputName[]): boolean {
    return names.every((name) => !this.invalid.has(name))
  }

  /** Hosts, one per line or comma-separated; at least one unless `optional`. */
  hostList(name: InputName, defaults: HostDefaults, optional = false): HostAddress[] {
    const entries = this.text(name)
      .split(/[\s,]+/)
      .filter((entry) => entry !== '')
    if (entries.length === 0 && optional) return []
    if (entries.length === 0) {
      return this.fail(
        name,
        [],
        `Input '${name}' is required (expected one or more ${HOST_FORMAT}, one per line or ` +
          `separated by commas).`,
      )
    }
    const hosts: HostAddress[] = []
    const seen = new Map<string, string>()
    for (const entry of entries) {
      const result = hostAddress(defaults)(entry)
      if (!result.ok) {
        this.fail(
          name,
          [],
          `Input '${name}': ${show(entry)} ${result.problem} (expected ${result.expected}).`,
        )
        continue
      }
      const key = `${result.value.host}:${result.value.port}`
      const first = seen.get(key)
      if (first !== undefined) {
        this.fail(
          name,
          [],
          `Input '${name}': ${show(entry)} is the same host and port as ${show(first)} ` +
            `(expected each host:port once; one host cannot take its own deploy lock twice).`,
        )
        continue
      }
      seen.set(key, entry)
      hosts.push(result.value)
    }
    return hosts
  }

  /** The private key, normalized to `\n` line ends with a final newline. Never echoes the value. */
  privateKey(name: InputName): string {
    const key = this.text(name).replace(/\r\n?/g, '\n')
    const expected =
      "the private key text starting with '-----BEGIN' or 'PuTTY-User-Key-File', e.g. " +
      "'${{ secrets.DEPLOY_KEY }}'"
    const hidden = (problem: string) =>
      this.fail(name, '', `Input '${name}': the value (hidden) ${problem} (expected ${expected}).`)
    if (key === '')
      return this.fail(name, '', `Input '${name}' is required (expected ${expected}).`)
    if (/^(ssh-|ecdsa-|sk-)[a-z0-9@.-]+ AAAA/.test(key)) return hidden('is a public key')
    if (!key.includes('\n') && key.includes('\\n')) {
      return hidden("has literal '\\n' in place of line breaks")
    }
    if (!PRIVATE_KEY_PEM.test(key) && !key.startsWith('PuTTY-User-Key-File-')) {
      return hidden('is not a private key')
    }
    return `${key}\n`
  }

  /** A bearer token: one line of visible characters. Never echoed. */
  token(name: InputName): string {
    const token = this.text(name)
    if (token === '' || /^[\x21-\x7e]+$/.test(token)) return token
    return this.fail(
      name,
      '',
      `Input '${name}': the value (hidden) contains whitespace, control or non-ASCII ` +
        `characters (expected the token alone, e.g. '\${{ secrets.ARTIFACT_TOKEN }}'; it is ` +
        `sent as 'Authorization: Bearer <token>').`,
    )
  }

  /** known_hosts lines, and SHA256 fingerprint pins (appleboy's `fingerprint`), checked. */
  knownHosts(name: InputName): string {
    const text = this.text(name)
    text.split(/\r?\n/).forEach((raw, index) => {
      const line = raw.trim()
      if (line === '' || line.startsWith('#')) return
      const fields = line.split(/\s+/)
      if (fields[0]?.startsWith('@')) fields.shift()
      const where = `Input '${name}': line ${index + 1} ${show(line)}`
      if (parseFingerprintPin(fields, '')) return
      const print = fields.slice(0, 2).find((field) => FINGERPRINT_LIKE.test(field))
      if (print !== undefined && !/^SHA256:/i.test(print)) {
        this.fail(
          name,
          '',
          `${where} is an MD5 fingerprint (expected a SHA256 one, 'SHA256:' and 43 characters ` +
            `as 'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub' prints it, or a known_hosts line).`,
        )
      } else if (print !== undefined) {
        this.fail(
          name,
          '',
          `${where} is not a complete SHA256 fingerprint (expected 'SHA256:' and 43 characters ` +
            `as 'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub' prints it).`,
        )
      } else if (fields.length < 3 || !/^(ssh-|ecdsa-|sk-)/.test(fields[1] ?? '')) {
        this.fail(
          name,
          '',
          `${where} is not a known_hosts entry (expected lines like ` +
            `'web1.example.com ssh-ed25519 AAAAC3...', e.g. from ssh-keyscan, or a host-key ` +
            `fingerprint 'SHA256:...').`,
        )
      }
    })
    return text
  }

  /** `KEY=VALUE` lines into an ordered record. Values are secrets: messages show line and key only. */
  env(name: InputName): Record<string, string> {
    const entries: [string, string][] = []
    const lineOfKey = new Map<string, number>()
    this.text(name)
      .split(/\r?\n/)
      .forEach((raw, index) => {
        const line = raw.trim()
        const lineNo = index + 1
        if (line === '' || line.startsWith('#')) return
        const eq = line.indexOf('=')
        if (eq < 0) {
          this.fail(
            name,
            {},
            `Input '${name}': line ${lineNo} has no '=' (expected KEY=VALUE lines; ` +
              `values cannot span lines).`,
          )
          return
        }
        const key = line.slice(0, eq).trim()
        if (!ENV_KEY.test(key)) {
          this.fail(
            name,
            {},
            `Input '${name}': line ${lineNo} does not start with a variable name (expected ` +
              `KEY=VALUE with KEY of letters, digits and '_', not starting with a digit; the line ` +
              `is not shown since it may hold a secret).`,
          )
          return
        }
        if (SLOT_ENV_KEYS.includes(key)) {
          this.fail(
            name,
            {},
            `Input '${name}': line ${lineNo} sets ${key}, which the action sets for each slot ` +
              `(expected none of ${SLOT_ENV_KEYS.join(', ')}).`,
          )
          return
        }
        const first = lineOfKey.get(key)
        if (first !== undefined) {
          this.fail(
            name,
            {},
            `Input '${name}': line ${lineNo} sets ${key} again, already set on line ${first} ` +
              `(expected each key once).`,
          )
          return
        }
        lineOfKey.set(key, lineNo)
        entries.push([key, unquote(line.slice(eq + 1).trim())])
      })
    // fromEntries defines own properties, so even a key like __proto__ stays plain data.
    return Object.fromEntries(entries)
  }

  /** The same variable in two `KEY=VALUE` inputs: which value would win is unclear, so refuse. */
  distinctKeys(
    first: InputName,
    a: Record<string, string>,
    second: InputName,
    b: Record<string, string>,
  ): void {
    for (const key of Object.keys(b).filter((k) => Object.hasOwn(a, k))) {
      this.fail(
        second,
        undefined,
        `Input '${second}': sets ${key}, which '${first}' sets too (expected each variable in ` +
          `one of them: '${second}' for values to mask in the log).`,
      )
    }
  }

  private fail<T>(name: InputName, fallback: T, problem: string): T {
    this.invalid.add(name)
    this.flagged.add(name)
    this.problems.push(problem)
    return fallback
  }
}

/** Strips one pair of matching surrounding quotes, as .env files are usually written. */
function unquote(value: string): string {
  const quoted = /^(['"])([\s\S]*)\1$/.exec(value)
  return quoted ? (quoted[2] ?? '') : value
}
