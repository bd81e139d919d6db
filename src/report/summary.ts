/**
 * The job summary of a run (pure): outcome, hosts, timeline and how to roll back. Everything that
 * came from hosts or inputs is escaped, and the whole stays under GitHub's 1 MiB summary limit.
 */
import { formatLatency, formatRate } from './log.js'
import { renderGantt } from './gantt.js'
import { cell, codeBlock, head, html, noMentions, plain, table, tail } from './markdown.js'
import type { HostOutcome, HostReport, JudgedWindow, Phase, RunReport, RunStatus } from './model.js'
import { phaseTotals } from './outputs.js'

/** GitHub rejects a step summary over 1 MiB; the rendered text stays under this (UTF-8 bytes). */
export const SUMMARY_BUDGET_BYTES = 900 * 1024
/** Per-host error text is cut to its last this many characters. */
export const HOST_ERROR_CHARS = 2000
/** The run's error is cut to its last this many characters. */
export const RUN_ERROR_CHARS = 4000
/** When over budget, error details are kept for the first this many failed hosts only. */
export const DETAILED_FAILED_HOSTS = 20
/** The drain note below the table names at most this many hosts. */
const NOTE_HOSTS = 5
/** Host names and versions longer than this are cut in the table and prose. */
const MAX_CELL_CHARS = 100

const STATUS_ICON: Record<RunStatus, string> = {
  deployed: '✅',
  unchanged: '✅',
  'rolled-back': '↩️',
  failed: '❌',
}

const OUTCOME_ICON: Record<HostOutcome, string> = {
  deployed: '✅',
  unchanged: '✅',
  failed: '❌',
  reverted: '↩️',
  'rolled-back': '↩️',
}

const HOST_COLUMNS = [
  'Host',
  'Result',
  'Live slot',
  'Version',
  'Previous',
  'Ship',
  'Start+health',
  'Switch',
  'Drain',
  'Total',
]

/** What `version` accepts; only such a version is offered as `rollback-to`. */
const VERSION_INPUT = /^[A-Za-z0-9._+-]{1,64}$/

/** What the summary leaves out to stay under {@link SUMMARY_BUDGET_BYTES}. */
interface Limits {
  /** Failed hosts whose error is shown, in table order. */
  details: number
  gantt: boolean
  runErrorChars: number
  /** Hosts in the table (a last resort for thousands of hosts). */
  rows: number
}

/** Compact durations: `0.4 s`, `12 s`, `2 min 5 s`, `1 h 3 min`. */
export function humanDuration(ms: number): string {
  if (ms < 9950) return `${(Math.max(0, ms) / 1000).toFixed(1)} s`
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m} min ${s % 60} s`
  return `${Math.floor(m / 60)} h ${m % 60} min`
}

/** Remote or input text for prose and table cells: printable, cut, escaped, no mentions. */
function esc(text: string, max = MAX_CELL_CHARS): string {
  return cell(noMentions(head(plain(text), max)))
}

function count(n: number, noun: string): string {
  return `${n.toLocaleString('en-US')} ${noun}${n === 1 ? '' : 's'}`
}

/** `v1 (blue)`, `v1`, `blue` or '' */
function versionOnSlot(version: string | null, slot: string | null): string {
  const slotText = slot === null ? '' : `(${slot})`
  return [version ?? '', version === null ? (slot ?? '') : slotText]
    .filter((s) => s !== '')
    .join(' ')
}

/** A link for a URL that cannot break out of one; anything else as escaped text. */
function link(url: string): string {
  return /^https?:\/\/[^\s<>"'`()[\]\\]+$/.test(url) ? `<${url}>` : esc(url, 500)
}

function headline(r: RunReport): string {
  const app = esc(r.app)
  const version = esc(r.version)
  const hosts = count(r.hosts.length, 'host')
  const took = humanDuration(r.endedAt - r.startedAt)
  const strategy = esc(r.strategy)
  const icon = STATUS_ICON[r.status]
  switch (r.status) {
    case 'deployed':
      return `### ${icon} ${app} ${version} deployed to ${hosts} (${strategy}) in ${took}`
    case 'unchanged':
      return `### ${icon} ${app} ${version} was already live on ${hosts}: nothing changed (${took})`
    case 'rolled-back':
      return `### ${icon} ${app} rolled back to ${version} on ${hosts} in ${took}`
    case 'failed':
      if (r.rollbackTo !== undefined) {
        const target = r.rollbackTo === '' ? 'the previous release' : esc(r.rollbackTo)
        return `### ${icon} Rolling back ${app} to ${target}${r.hosts.length > 0 ? ` on ${hosts}` : ''} failed after ${took}`
      }
      return `### ${icon} Deploying ${app} ${version}${r.hosts.length > 0 ? ` to ${hosts}` : ''} (${strategy}) failed after ${took}`
  }
}

/** Hosts serving the version this run was about. */
function onNewVersion(r: RunReport): HostReport[] {
  return r.hosts.filter((h) => h.liveVersion === r.version)
}

/** What serves now, compared with before. */
function stateLines(r: RunReport, runErrorChars: number): string[] {
  const version = esc(r.version)
  const now = esc(versionOnSlot(r.version, r.liveSlot))
  const before =
    r.previousVersion === null && r.previousSlot === null
      ? null
      : esc(versionOnSlot(r.previousVersion, r.previousSlot))
  const url = r.url === '' ? [] : ['', `URL: ${link(r.url)}`]
  switch (r.status) {
    case 'deployed':
      return [
        before === null
          ? `First deploy: nothing served before. Now serving ${now}.`
          : `Previous version: ${before}. Now serving ${now}.`,
        ...url,
      ]
    case 'unchanged':
      return [`Every host already served ${now}; nothing was changed.`, ...url]
    case 'rolled-back':
      return [`Rolled back from ${before ?? 'an unknown version'}. Now serving ${now}.`, ...url]
    case 'failed': {
      const error =
        r.error === undefined ? [] : [codeBlock(tail(plain(r.error), runErrorChars), 'text'), '']
      const switched = onNewVersion(r).length
      // After a watch breach, the hosts it switched back say so (they did serve the new version).
      const breached = r.watches.some((w) => w.verdict === 'aborted')
      const reverted = breached ? r.hosts.filter((h) => h.outcome === 'reverted').length : 0
      if (r.rollbackTo !== undefined && switched === 0 && r.hosts.length > 0) {
        const unchanged =
          'No host was rolled back: every host still serves what it served before, as the table shows.'
        return [...error, unchanged]
      }
      const serving =
        r.hosts.length === 0
          ? 'No host was changed.'
          : switched > 0
            ? `${switched} of ${count(r.hosts.length, 'host')} serve ${version}; the others still serve their previous version, as the table shows.`
            : reverted > 0
              ? `${count(reverted, 'host')} switched to ${version} and back: every host serves its previous version again, as the table shows.`
              : r.previousVersion === null
                ? `No host switched to ${version}: every host still serves what it served before, as the table shows.`
                : `No host switched to ${version}: every host still serves the previous version, ${before}, as the table shows.`
      return [...error, serving]
    }
  }
}

/** The duration of these phases together, `❌` when one failed, '–' when none ran. */
function timing(totals: ReturnType<typeof phaseTotals>, ...phases: Phase[]): string {
  const found = phases.flatMap((p) => totals.get(p) ?? [])
  if (found.length === 0) return '–'
  const ms = found.reduce((sum, t) => sum + t.ms, 0)
  return `${humanDuration(ms)}${found.some((t) => t.failed) ? ' ❌' : ''}`
}

/** The drain's duration, and the connections drain-timeout left open, if it did. */
function drainCell(h: HostReport, totals: ReturnType<typeof phaseTotals>): string {
  const time = timing(totals, 'drain')
  if (h.openAfterDrain === undefined) return time
  const left = `${h.openAfterDrain} left open`
  return time === '–' ? left : `${time}, ${left}`
}

/**
 * Below the table when a drain reached drain-timeout: on which hosts, with how many connections,
 * and what that means (the stop closed them: websockets stay open until the app closes them).
 */
function drainNote(hosts: HostReport[]): string[] {
  const timedOut = hosts.filter((h) => h.openAfterDrain !== undefined)
  if (timedOut.length === 0) return []
  const shown = timedOut.slice(0, NOTE_HOSTS).map((h) => `${esc(h.host)} (${h.openAfterDrain})`)
  const rest = timedOut.length - shown.length
  const more = rest > 0 ? ` and ${count(rest, 'more host')}` : ''
  return [
    '',
    `Drain: drain-timeout ended with connections still open on ${shown.join(', ')}${more}; the slot was stopped anyway. Websockets stay open until the app closes them on SIGTERM, so their drain always lasts drain-timeout: keep it to your longest request.`,
  ]
}

export function hostRow(h: HostReport): string[] {
  const totals = phaseTotals(h.phases)
  const total =
    h.phases.length === 0
      ? '–'
      : humanDuration(
          Math.max(...h.phases.map((p) => p.endedAt)) -
            Math.min(...h.phases.map((p) => p.startedAt)),
        )
  return [
    esc(
      h.role === 'worker'
        ? `${h.host} (workers)`
        : h.batch === undefined
          ? h.host
          : `${h.host} (batch ${h.batch})`,
    ),
    esc(`${OUTCOME_ICON[h.outcome]} ${h.outcome}`),
    esc(h.liveSlot ?? '–'),
    esc(h.liveVersion ?? '–'),
    esc(versionOnSlot(h.previousVersion, h.previousSlot) || '–'),
    esc(timing(totals, 'ship')),
    esc(timing(totals, 'start', 'health')),
    esc(timing(totals, 'switch')),
    esc(drainCell(h, totals)),
    esc(total),
  ]
}

/** A collapsed block with the end of a host's error, which stays inside its code block. */
export function hostDetails(h: HostReport): string {
  const text = plain(h.error ?? '')
  const length = Array.from(text).length
  const cut =
    length > HOST_ERROR_CHARS
      ? ` (last ${HOST_ERROR_CHARS.toLocaleString('en-US')} of ${length.toLocaleString('en-US')} characters)`
      : ''
  const host = html(noMentions(head(plain(h.host), MAX_CELL_CHARS).replace(/\s+/g, ' ')))
  return [
    `<details><summary>${OUTCOME_ICON[h.outcome]} Error on ${host}${cut}</summary>`,
    '',
    codeBlock(tail(text, HOST_ERROR_CHARS), 'text'),
    '',
    '</details>',
  ].join('\n')
}

/** The parts that do not depend on the limits, rendered once. */
interface Parts {
  rows: string[][]
  /** Per host, its error details block, if it has an error. */
  details: (string | undefined)[]
  gantt: string
}

function hostsSection(r: RunReport, parts: Parts, limits: Limits, leftOut: string[]): string[] {
  if (r.hosts.length === 0) return []
  const rows = parts.rows.slice(0, limits.rows)
  if (rows.length < r.hosts.length) {
    leftOut.push(`${count(r.hosts.length - rows.length, 'host')} from the table`)
  }
  const failed = parts.details.slice(0, rows.length).filter((d) => d !== undefined)
  const detailed = failed.slice(0, limits.details)
  if (detailed.length < failed.length) {
    leftOut.push(
      detailed.length === 0
        ? 'the error details of every host'
        : `the error details of ${count(failed.length - detailed.length, 'more host')}`,
    )
  }
  return [
    '#### Hosts',
    '',
    table(HOST_COLUMNS, rows),
    ...drainNote(r.hosts),
    ...detailed.flatMap((d) => ['', d]),
    '',
  ]
}

function rollbackSection(r: RunReport): string[] {
  const version = esc(r.version)
  const lines = ['#### How to roll back', '']
  const target =
    r.previousVersion !== null && r.previousVersion !== r.version ? r.previousVersion : null
  if (r.status === 'failed' && r.rollbackTo !== undefined && onNewVersion(r).length === 0) {
    lines.push('Nothing to roll back: this rollback changed no host.')
  } else if (r.status === 'failed' && onNewVersion(r).length === 0) {
    lines.push(`Nothing to roll back: no host serves ${version}.`)
  } else if (r.status === 'deployed' && r.previousVersion === null) {
    lines.push(`Nothing to roll back to: this was the first deploy of ${esc(r.app)}.`)
  } else {
    const offered = target !== null && VERSION_INPUT.test(target) ? target : null
    const app = /^[a-z][a-z0-9_-]*$/.test(r.app) ? r.app : JSON.stringify(r.app)
    lines.push(
      `To switch every host back to ${offered === null ? 'the previous release' : esc(offered)}, run this action again with the same inputs (hosts, keys, \`app-name\`) and these added, e.g. from a \`workflow_dispatch\` workflow:`,
      '',
      codeBlock(
        [
          'with:',
          `  app-name: ${app}`,
          '  rollback: true',
          ...(offered === null ? [] : [`  rollback-to: '${offered}'`]),
        ].join('\n'),
        'yaml',
      ),
    )
    if (target !== null && offered === null) {
      lines.push(
        '',
        `The previous version's name is not one the \`version\` input accepts, so \`rollback-to\` is left out; without it the previous release is used.`,
      )
    }
  }
  if (r.runUrl !== '') lines.push('', `This run: ${link(r.runUrl)}`)
  return lines
}

const VERDICT_ICON: Record<JudgedWindow['verdict'], string> = {
  passed: '✅ passed',
  'not judged': '➖ not judged',
  aborted: '❌ aborted',
  promoted: '🚀 promoted',
}

/** A judged window's figures: requests, 5xx, their rate and the p99 ('–' where none). */
function windowFigures(w: JudgedWindow): string[] {
  const { counts } = w
  return [
    counts === null ? '–' : counts.requests.toLocaleString('en-US'),
    counts === null ? '–' : counts.errors.toLocaleString('en-US'),
    counts === null || counts.requests === 0 ? '–' : formatRate(counts.errors / counts.requests),
    w.p99Ms === null ? '–' : formatLatency(w.p99Ms),
  ]
}

const FIGURE_COLUMNS = ['Requests to new version', '5xx', '5xx rate', 'p99']

/** Strategy canary: a row per step, with what reached the new version and the verdict. */
function canarySection(r: RunReport): string[] {
  if (r.canarySteps.length === 0) return []
  const rows = r.canarySteps.map((step) => [
    esc(step.label),
    ...windowFigures(step),
    VERDICT_ICON[step.verdict],
    esc(step.note ?? ''),
  ])
  return ['#### Canary', '', table(['Step', ...FIGURE_COLUMNS, 'Verdict', 'Note'], rows), '']
}

/**
 * The watch after the switch (`watch`): a row per watch (one per rolling batch), and after a
 * breach the first 5xx answers the new version gave.
 */
function watchSection(r: RunReport): string[] {
  if (r.watches.length === 0) return []
  const verdict = (w: JudgedWindow) =>
    w.verdict !== 'aborted' ? '✅ passed' : w.failClosed ? '❌ no evidence' : '❌ breached'
  const rows = r.watches.map((w) => [
    esc(w.label),
    ...windowFigures(w),
    w.ms === undefined ? '–' : humanDuration(w.ms),
    verdict(w),
    esc(w.note ?? ''),
  ])
  const failures = r.watches.flatMap((w) => (w.verdict === 'aborted' ? w.firstFailures : []))
  const first =
    failures.length === 0
      ? []
      : [
          '',
          `First 5xx answers of the new version: ${failures
            .map(
              (f) =>
                `${f.status} on ${esc(f.host)} at ${new Date(f.at).toISOString().slice(11, 23)}`,
            )
            .join(', ')} (UTC).`,
        ]
  return [
    '#### Watch',
    '',
    table(['Watch', ...FIGURE_COLUMNS, 'Lasted', 'Verdict', 'Note'], rows),
    ...first,
    '',
  ]
}

/** The release's workers per host, when the run started any (absent otherwise). */
function workersSection(r: RunReport): string[] {
  const rows = r.hosts.flatMap((h) =>
    (h.workers ?? []).map((w) => [
      esc(h.host),
      esc(w.name),
      esc(w.version),
      esc(`${w.state === 'up' ? '✅' : '❌'} ${w.state}`),
    ]),
  )
  if (rows.length === 0) return []
  return ['#### Workers', '', table(['Host', 'Worker', 'Version', 'State'], rows), '']
}

/** What asset-path bridged per host, when it ran (absent otherwise). */
function assetsSection(r: RunReport): string[] {
  const n = (count: number) => count.toLocaleString('en-US')
  const rows = r.hosts.flatMap((h) => {
    const a = h.assets
    if (a === undefined) return []
    return [
      [
        esc(h.host),
        n(a.files),
        a.linked === 0 ? '0' : esc(`${n(a.linked)} (from ${a.from.join(', ')})`),
        a.intoLive ? esc(`${n(a.intoLive.files)} into ${a.intoLive.version}`) : '',
        a.clashes === 0 ? '' : `⚠️ ${n(a.clashes)}`,
      ],
    ]
  })
  if (rows.length === 0) return []
  return [
    '#### Fingerprinted assets',
    '',
    table(['Host', 'Own files', 'Linked in', 'Given to the live release', 'Name clashes'], rows),
    '',
  ]
}

function render(r: RunReport, parts: Parts, limits: Limits): string {
  const leftOut: string[] = []
  const hosts = hostsSection(r, parts, limits, leftOut)
  const gantt = limits.gantt ? parts.gantt : ''
  if (gantt === '' && parts.gantt !== '') leftOut.push('the timeline')
  if (r.error !== undefined && limits.runErrorChars < RUN_ERROR_CHARS) {
    leftOut.push(`all but the last ${limits.runErrorChars} characters of the error`)
  }
  const note =
    leftOut.length === 0
      ? []
      : [
          `_Left out to stay under GitHub's 1 MiB summary limit: ${leftOut.join(', ')}. The log has everything._`,
          '',
        ]
  return [
    headline(r),
    '',
    ...stateLines(r, limits.runErrorChars),
    '',
    ...hosts,
    ...workersSection(r),
    ...assetsSection(r),
    ...canarySection(r),
    ...watchSection(r),
    ...note,
    ...(gantt === '' ? [] : ['#### Timeline', '', gantt, '']),
    ...rollbackSection(r),
    '',
  ].join('\n')
}

/**
 * Markdown for the job summary of a run. When it would exceed {@link SUMMARY_BUDGET_BYTES} it
 * leaves out, in turn: error details beyond the first {@link DETAILED_FAILED_HOSTS} failed hosts,
 * all error details, the timeline, most of the run's error, and at last rows of the table; a line
 * says what was left out.
 */
export function renderSummary(report: RunReport): string {
  const parts: Parts = {
    rows: report.hosts.map(hostRow),
    details: report.hosts.map((h) => (h.error === undefined ? undefined : hostDetails(h))),
    gantt: renderGantt(report),
  }
  const full: Limits = {
    details: Infinity,
    gantt: true,
    runErrorChars: RUN_ERROR_CHARS,
    rows: Infinity,
  }
  const attempts: Limits[] = [
    full,
    { ...full, details: DETAILED_FAILED_HOSTS },
    { ...full, details: 0 },
    { ...full, details: 0, gantt: false },
    { ...full, details: 0, gantt: false, runErrorChars: 500 },
  ]
  const last = attempts[attempts.length - 1] as Limits
  for (let rows = report.hosts.length; rows > 0; rows = Math.floor(rows / 2)) {
    attempts.push({ ...last, rows: Math.floor(rows / 2) })
  }
  let text = ''
  for (const limits of attempts) {
    text = render(report, parts, limits)
    if (Buffer.byteLength(text, 'utf8') <= SUMMARY_BUDGET_BYTES) return text
  }
  return text
}
