/**
 * Parsers for the text of one input each: the value, or what is wrong with the text and what is
 * expected instead. InputReader.field turns the two into the message. Pure.
 */
import { isIPv4, isIPv6 } from 'node:net'
import { z } from 'zod'
import { splitExclude } from '../release/ignore.js'
import { parseDuration } from './duration.js'
import type { Amount, HostAddress, WorkerCommand } from './settings.js'

/** A parsed value, or what is wrong with the given text and what was expected instead. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string; expected: string }
export type Parser<T> = (text: string) => Parsed<T>

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value })
const bad = <T>(problem: string, expected: string): Parsed<T> => ({ ok: false, problem, expected })

/**
 * A zod schema as a parser, for the checks zod has built in (booleans, choices, patterns and
 * lengths): the schema's error is the problem, and every problem expects the same.
 */
function fromSchema<T>(expected: string, schema: z.ZodType<T, string>): Parser<T> {
  return (text) => {
    const result = schema.safeParse(text)
    return result.success ? ok(result.data) : bad(result.error.issues[0]?.message ?? '', expected)
  }
}

/** The given text as shown in messages: quoted, control characters escaped, long text cut. */
export function show(text: string): string {
  const escaped = text.replace(/\p{Cc}/gu, (c) =>
    c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  )
  return `'${escaped.length > 80 ? `${escaped.slice(0, 77)}...` : escaped}'`
}

const TRUE = ['true', 'yes', 'on', '1']
const FALSE = ['false', 'no', 'off', '0']
const APP_NAME = /^[a-z][a-z0-9_-]{0,39}$/
const VERSION = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/
const USER = /^[a-z_][a-z0-9_.-]*$/i
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i
/** nginx reads the cookie as `$cookie_<name>`, and nginx variable names are [A-Za-z0-9_]. */
const COOKIE_NAME = /^[A-Za-z0-9_]{1,64}$/
const SERVER_NAME =
  /^(\*\.)?[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i
const CONTROL_OR_SPACE = /[\s\p{Cc}]/u
export const HOST_FORMAT = '[user@]host[:port]'
const USER_EXPECTED = "a user name of letters, digits, '_', '.' and '-', like 'deploy'"

/** An input that may be left empty: '' gives `empty` (e.g. '', `undefined` or a derived default). */
export function optional<T, E>(parse: Parser<T>, empty: E): Parser<T | E> {
  return (text) => (text === '' ? ok(empty) : parse(text))
}

export const boolean = fromSchema(
  'true or false; yes/no, on/off and 1/0 also work',
  z.stringbool({ truthy: TRUE, falsy: FALSE, error: 'is not a boolean' }),
)

export function integer(min: number, max: number): Parser<number> {
  const expected = max === Infinity ? `an integer of at least ${min}` : `an integer ${min}-${max}`
  return (text) => {
    if (!/^\d+$/.test(text)) return bad('is not an integer', expected)
    const value = Number(text)
    return value >= min && value <= max ? ok(value) : bad('is out of range', expected)
  }
}

export const port: Parser<number> = (text) => {
  const value = /^\d+$/.test(text) ? Number(text) : NaN
  return value >= 1 && value <= 65535 ? ok(value) : bad('is not a port', 'an integer 1-65535')
}

export function duration(options: { allowZero: boolean }): Parser<number> {
  const examples = "e.g. '30s', '2m', '1m30s', '500ms', or plain seconds like '45'"
  return (text) => {
    const ms = parseDuration(text)
    if (ms === undefined) return bad('is not a duration', `a duration, ${examples}`)
    if (ms === 0 && !options.allowZero) return bad('is zero', 'a duration greater than 0')
    if (ms > 86_400_000) return bad('is too long', 'a duration of at most 24h')
    return ok(ms)
  }
}

export function oneOf<const T extends string>(options: readonly T[]): Parser<T> {
  return fromSchema(`one of ${options.join(', ')}`, z.enum(options, 'is not a valid choice'))
}

export const amount: Parser<Amount> = (text) => {
  const expected = "a count of at least 1 like '2', or a percentage 1-100 like '25%'"
  const match = /^(\d+)(%?)$/.exec(text)
  if (!match) return bad('is not a count or percentage', expected)
  const value = Number(match[1])
  if (match[2] === '%')
    return value >= 1 && value <= 100
      ? ok({ kind: 'percent', value })
      : bad('is out of range', expected)
  return value >= 1 ? ok({ kind: 'count', value }) : bad('is out of range', expected)
}

/** A percentage 0-100 (`1%`, `1`, `0.5%`) as a fraction (0.01, 0.01, 0.005). */
const errorRate: Parser<number> = (text) => {
  const expected = "a percentage 0-100 like '1%' or '0.5%'"
  const match = /^(\d+(?:\.\d+)?)%?$/.exec(text)
  if (!match) return bad('is not a percentage', expected)
  const value = Number(match[1])
  return value <= 100 ? ok(value / 100) : bad('is out of range', expected)
}

/** canary- and watch-max-error-rate: a percentage, or `off` (null: the rate is not judged). */
export const errorRateOrOff: Parser<number | null> = (text) => {
  if (text === 'off') return ok(null)
  const rate = errorRate(text)
  return rate.ok ? rate : bad(rate.problem, `${rate.expected}, or 'off' not to judge it`)
}

/** canary- and watch-max-latency: a duration above 0, or nothing (null: not judged). */
export const latencyOrNone: Parser<number | null> = optional(duration({ allowZero: false }), null)

export const weights: Parser<number[]> = (text) => {
  const expected = "percentages 1-100, strictly ascending and ending with 100, like '10,50,100'"
  const items = text.split(',').map((item) => item.trim())
  if (items.some((item) => !/^\d+$/.test(item))) return bad('is not a list of integers', expected)
  const values = items.map(Number)
  if (values.some((value) => value < 1 || value > 100)) return bad('is out of range', expected)
  if (values.some((value, i) => i > 0 && value <= (values[i - 1] ?? 0))) {
    return bad('is not strictly ascending', expected)
  }
  if (values.at(-1) !== 100) return bad('does not end with 100', expected)
  return ok(values)
}

const WORKER_NAME = /^[a-z][a-z0-9-]{0,19}$/

/** `worker-command`: one `name: command` per line (`#` comments and empty lines skipped). */
export const workerCommands: Parser<WorkerCommand[]> = (text) => {
  const expected =
    "one 'name: command' per line, the name of 1-20 characters of a-z, 0-9 and '-' starting " +
    "with a letter, each name once, like 'jobs: bundle exec sidekiq'"
  const workers: WorkerCommand[] = []
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const at = line.indexOf(':')
    const name = at < 0 ? '' : line.slice(0, at).trim()
    const command = at < 0 ? '' : line.slice(at + 1).trim()
    if (!WORKER_NAME.test(name) || command === '') {
      return bad(`has the line ${show(line)}, which is not a worker`, expected)
    }
    if (workers.some((w) => w.name === name)) return bad(`names ${show(name)} twice`, expected)
    workers.push({ name, command })
  }
  return ok(workers)
}

export const appName = fromSchema(
  "1-40 characters of a-z, 0-9, '_' and '-', starting with a letter, like 'shop'; " +
    'it names nginx upstreams, files and systemd units',
  z.string().regex(APP_NAME, 'is not a valid app name'),
)

export const versionName = fromSchema(
  "1-64 characters of A-Z, a-z, 0-9, '.', '_', '+' and '-', starting with a letter or digit",
  z.string().regex(VERSION, 'is not a valid version'),
)

export const userName = fromSchema(
  USER_EXPECTED,
  z.string().regex(USER, 'is not a valid user name'),
)

export function absolutePath(kind: 'directory' | 'file'): Parser<string> {
  const expected = `an absolute, normalized ${kind} path like '${kind === 'file' ? '/etc/nginx/conf.d/app.conf' : '/srv/app'}'`
  return (text) => {
    if (CONTROL_OR_SPACE.test(text))
      return bad('contains whitespace or control characters', expected)
    if (!text.startsWith('/')) return bad('is not an absolute path', expected)
    if (text.split('/').includes('..')) return bad("contains '..'", expected)
    if (text === '/') return bad('is the root directory', expected)
    if (/\/\/|\/\.(\/|$)|\/$/.test(text)) return bad('is not normalized', expected)
    return ok(text)
  }
}

/** A file path that goes into an nginx config as it is: nothing nginx would read as syntax. */
export const nginxFilePath: Parser<string> = (text) => {
  const path = absolutePath('file')(text)
  if (!path.ok || /^[\w./@+-]+$/.test(text)) return path
  return bad(
    'contains characters nginx would read as syntax',
    "an absolute file path of letters, digits and . _ - + @ / like '/var/log/nginx/app-canary.log'",
  )
}

export const localPath: Parser<string> = (text) =>
  /\p{Cc}/u.test(text)
    ? bad('contains control characters', "a path on the runner like 'build' or 'dist/app.tar.gz'")
    : ok(text)

export const httpPath: Parser<string> = (text) => {
  const expected = "an HTTP path starting with '/', without whitespace, like '/health'"
  if (!text.startsWith('/')) return bad("does not start with '/'", expected)
  if (CONTROL_OR_SPACE.test(text)) return bad('contains whitespace or control characters', expected)
  return ok(text)
}

export const httpUrl: Parser<string> = (text) => {
  const expected = "an absolute URL starting with 'https://' or 'http://'"
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return bad('is not a URL', expected)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    return bad('is not an http(s) URL', expected)
  if (CONTROL_OR_SPACE.test(text)) return bad('contains whitespace or control characters', expected)
  return ok(text)
}

/**
 * gitignore patterns (newline- or comma-separated); a pattern with control characters (a pasted
 * escape sequence, not a file name) is refused, every such one named at once.
 */
export const ignorePatterns: Parser<string[]> = (text) => {
  const patterns = splitExclude(text)
  const problems = patterns
    .filter((pattern) => /\p{Cc}/u.test(pattern))
    .map((pattern) => `${show(pattern)} contains control characters`)
  return problems.length === 0
    ? ok(patterns)
    : bad(
        `has bad patterns: ${problems.join('; ')}`,
        "gitignore patterns relative to release-path, one per line or separated by commas, like 'node_modules/, *.log, /coverage'",
      )
}

/**
 * `asset-path`: folders of the release relative to its root, one per line or separated by
 * commas, a trailing `/` dropped; each stays inside the release (no absolute path, no `.` or `..`
 * segment), and none is inside another.
 */
export const assetFolders: Parser<string[]> = (text) => {
  const expected =
    "folders of the release relative to its root, one per line or separated by commas, like 'public/assets' or '.next/static'"
  const given = text
    .split(/[\n,]/)
    .map((item) => item.trim())
    .filter((item) => item !== '')
  const folders: string[] = []
  for (const item of given) {
    if (/[\p{Cc}\\]/u.test(item))
      return bad(`has ${show(item)}, with a control character or '\\'`, expected)
    if (item.startsWith('/')) return bad(`has an absolute path ${show(item)}`, expected)
    const folder = item.replace(/\/+$/, '')
    const segments = folder.split('/')
    if (segments.some((segment) => segment === '' || segment === '.' || segment === '..')) {
      return bad(`has ${show(item)}, with an empty, '.' or '..' segment`, expected)
    }
    if (folder.startsWith('-')) return bad(`has ${show(item)}, which starts with '-'`, expected)
    const overlap = folders.find(
      (f) => f === folder || f.startsWith(`${folder}/`) || folder.startsWith(`${f}/`),
    )
    if (overlap !== undefined) {
      return bad(`has ${show(item)} and ${show(overlap)}, one inside the other`, expected)
    }
    folders.push(folder)
  }
  return ok(folders)
}

export const sha256Hex = fromSchema(
  "64 hex digits, as 'sha256sum app.tar.gz' prints them",
  z
    .string()
    .regex(/^[0-9a-f]{64}$/i, 'is not a sha256')
    .toLowerCase(),
)

export const cookieName = fromSchema(
  "1-64 characters of A-Z, a-z, 0-9 and '_', since nginx reads it as $cookie_<name>",
  z.string().regex(COOKIE_NAME, 'is not a valid cookie name'),
)

/** nginx `server_name` values: host names (a leading `*.` allowed), separated by spaces or commas. */
export const serverNames: Parser<string[]> = (text) => {
  const names = text.split(/[\s,]+/).filter((n) => n !== '')
  const wrong = names.find((n) => !SERVER_NAME.test(n))
  return wrong === undefined
    ? ok(names)
    : bad(
        `has an invalid server name ${show(wrong)}`,
        "host names like 'shop.example.com' or '*.example.com', separated by spaces or commas",
      )
}

/** nginx `listen`: a port, `IPv4:port` or `[IPv6]:port`. */
export const listenAddress: Parser<string> = (text) => {
  const expected = "a port like '80', or 'address:port' like '127.0.0.1:8080' or '[::1]:80'"
  const match = /^(?:(\d+\.\d+\.\d+\.\d+):|\[([0-9a-fA-F:.]+)\]:)?(\d+)$/.exec(text)
  if (!match) return bad('is not a listen address', expected)
  const [, v4, v6, portText = ''] = match
  if ((v4 !== undefined && !isIPv4(v4)) || (v6 !== undefined && !isIPv6(v6))) {
    return bad('has an invalid address', expected)
  }
  return port(portText).ok ? ok(text) : bad('has an invalid port', expected)
}

export const environmentName = fromSchema(
  'at most 255 characters without control characters',
  z
    .string()
    .max(255, 'is not a valid environment name')
    .regex(/^\P{Cc}*$/u, 'is not a valid environment name'),
)

export interface HostDefaults {
  user: string
  port: number
}

/** `[user@]host[:port]`: a DNS name, IPv4, `[IPv6]` (with or without port) or bare IPv6. */
export function hostAddress(defaults: HostDefaults): Parser<HostAddress> {
  const expected = `${HOST_FORMAT} with a DNS name, an IPv4 address or an IPv6 address in brackets`
  return (text) => {
    let rest = text
    let user = defaults.user
    const at = rest.lastIndexOf('@')
    if (at >= 0) {
      user = rest.slice(0, at)
      rest = rest.slice(at + 1)
      if (!USER.test(user)) return bad(`has an invalid user ${show(user)}`, USER_EXPECTED)
    }
    let host = rest
    let portText: string | undefined
    if (rest.startsWith('[')) {
      const close = rest.indexOf(']')
      const after = close < 0 ? '' : rest.slice(close + 1)
      host = rest.slice(1, close)
      if (close < 0 || (after !== '' && !after.startsWith(':')) || !isIPv6(host)) {
        return bad('is not a valid host', expected)
      }
      if (after !== '') portText = after.slice(1)
    } else if (rest.split(':').length > 2) {
      if (!isIPv6(rest)) return bad('is not a valid host', expected)
    } else {
      const colon = rest.indexOf(':')
      if (colon >= 0) {
        host = rest.slice(0, colon)
        portText = rest.slice(colon + 1)
      }
      if (!isDnsNameOrIPv4(host)) return bad('is not a valid host', expected)
    }
    host = host.toLowerCase()
    let portNumber = defaults.port
    if (portText !== undefined) {
      const parsed = port(portText)
      if (!parsed.ok) return bad(`has an invalid port ${show(portText)}`, parsed.expected)
      portNumber = parsed.value
    }
    const shown = host.includes(':') ? `[${host}]` : host
    const label = portNumber === 22 ? host : `${shown}:${portNumber}`
    return ok({ user, host, port: portNumber, label })
  }
}

function isDnsNameOrIPv4(host: string): boolean {
  if (/^[\d.]+$/.test(host)) return isIPv4(host)
  return host.length <= 253 && host.split('.').every((label) => DNS_LABEL.test(label))
}
