/** The phases of a run as a mermaid gantt chart, for the job summary (pure). */
import type { HostReport, Phase, PhaseTiming, RunReport } from './model.js'

/** More hosts than this: one aggregated section instead of a section per host. */
export const MAX_HOST_SECTIONS = 10

/** Longest host name shown in the chart. */
const MAX_LABEL_CHARS = 60

/**
 * Text safe for a mermaid section or task name: `:` (the task data separator) becomes `∶` (ratio
 * sign, so IPv6 addresses stay readable), anything but letters, digits, spaces and `.-_@[]()`
 * becomes `_` (`#` and `;` would end the name, `%%` start a comment), cut to 60 characters.
 */
export function mermaidText(text: string): string {
  const chars = Array.from(
    text
      .replace(/:/g, '∶')
      .replace(/[^\p{L}\p{N} .\-_@[\]()∶]/gu, '_')
      .replace(/ +/g, ' ')
      .trim(),
  )
  const label =
    chars.length > MAX_LABEL_CHARS ? `${chars.slice(0, MAX_LABEL_CHARS).join('')}…` : chars.join('')
  return label || '_'
}

/** Milliseconds since the epoch suit `dateFormat x`; an end before the start is clamped. */
function task(name: string, start: number, end: number, failed: boolean): string {
  const from = Math.round(start)
  return `  ${name} :${failed ? 'crit, ' : ''}${from}, ${Math.max(from, Math.round(end))}`
}

function section(name: string, phases: PhaseTiming[]): string[] {
  if (phases.length === 0) return []
  const sorted = [...phases].sort((a, b) => a.startedAt - b.startedAt)
  return [
    `  section ${mermaidText(name)}`,
    ...sorted.map((p) => task(p.phase, p.startedAt, p.endedAt, p.failed === true)),
  ]
}

/** Per phase over all hosts: earliest start to latest end, how many hosts ran it, how many failed. */
function aggregated(hosts: HostReport[], label = `all ${hosts.length} hosts`): string[] {
  const spans = new Map<Phase, { start: number; end: number; hosts: Set<number>; failed: number }>()
  hosts.forEach((host, index) => {
    const failedHere = new Set<Phase>()
    for (const p of host.phases) {
      const span = spans.get(p.phase) ?? {
        start: p.startedAt,
        end: p.endedAt,
        hosts: new Set<number>(),
        failed: 0,
      }
      span.start = Math.min(span.start, p.startedAt)
      span.end = Math.max(span.end, p.endedAt)
      span.hosts.add(index)
      if (p.failed === true && !failedHere.has(p.phase)) {
        failedHere.add(p.phase)
        span.failed += 1
      }
      spans.set(p.phase, span)
    }
  })
  if (spans.size === 0) return []
  const lines = [`  section ${mermaidText(label)}`]
  const sorted = [...spans].sort(([, a], [, b]) => a.start - b.start)
  for (const [phase, span] of sorted) {
    const notes = [
      ...(span.hosts.size < hosts.length ? [`${span.hosts.size} of ${hosts.length} hosts`] : []),
      ...(span.failed > 0 ? [`${span.failed} failed`] : []),
    ]
    const name = notes.length > 0 ? `${phase} (${notes.join(', ')})` : phase
    lines.push(task(name, span.start, span.end, span.failed > 0))
  }
  return lines
}

function sectionName(host: HostReport): string {
  return host.batch === undefined ? host.host : `batch ${host.batch} · ${host.host}`
}

/** Hosts grouped by rolling batch, in batch order (one group without a batch otherwise). */
function byBatch(hosts: HostReport[]): [number | undefined, HostReport[]][] {
  const groups = new Map<number | undefined, HostReport[]>()
  for (const host of hosts) groups.set(host.batch, [...(groups.get(host.batch) ?? []), host])
  return [...groups].sort(([a], [b]) => (a ?? 0) - (b ?? 0))
}

/**
 * A ```mermaid gantt block of the run's phases: run-wide phases in section `run`, then a section
 * per host, or for more than {@link MAX_HOST_SECTIONS} hosts one section spanning all of them.
 * Failed phases are `crit`. The axis shows the viewer's local clock time. '' when nothing was timed.
 */
export function renderGantt(report: RunReport): string {
  const hostLines =
    report.hosts.length <= MAX_HOST_SECTIONS
      ? report.hosts.flatMap((h) => section(sectionName(h), h.phases))
      : byBatch(report.hosts).flatMap(([batch, hosts]) =>
          aggregated(
            hosts,
            batch === undefined ? undefined : `batch ${batch} (${hosts.length} hosts)`,
          ),
        )
  const lines = [...section('run', report.phases), ...hostLines]
  if (lines.length === 0) return ''
  return [
    '```mermaid',
    'gantt',
    '  dateFormat x',
    '  axisFormat %H:%M:%S',
    '  todayMarker off',
    ...lines,
    '```',
  ].join('\n')
}
