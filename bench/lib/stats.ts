/** Small figures and markdown helpers shared by the benchmarks. */
import { readFileSync } from 'node:fs'

export const median = (values: number[]): number => {
  if (values.length === 0) throw new Error('median of no values')
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
}

/** `1.23 s` */
export const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`

/** `1,234` */
export const count = (n: number): string => n.toLocaleString('en-US')

/** A markdown table; columns whose header starts with '>' are right-aligned (the '>' is dropped). */
export function markdownTable(headers: string[], rows: (string | number)[][]): string {
  const right = headers.map((h) => h.startsWith('>'))
  const names = headers.map((h) => h.replace(/^>/, ''))
  const rule = right.map((r) => (r ? '---:' : '---'))
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`
  return [line(names), line(rule), ...rows.map(line)].join('\n')
}

/** One line for the doc: when, where, how busy the machine was. */
export async function machineLine(): Promise<string> {
  const { cpus, loadavg, totalmem } = await import('node:os')
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(', ')
  const gib = Math.round(totalmem() / 2 ** 30)
  return (
    `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${cpus().length} cores, ` +
    `${gib} GiB, Node ${process.versions.node}, load average at the end ${load}`
  )
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The machine's CPU time so far from /proc/stat: busy and total jiffies over every core. */
export function machineCpu(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1)
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, ...rest] = fields.map(Number)
  const busy = user + nice + system + rest.slice(0, 3).reduce((a, b) => a + b, 0)
  return { busy, total: busy + idle + iowait }
}

/** How busy the machine's cores were between two machineCpu() readings, 0-1. */
export function busyFraction(from: ReturnType<typeof machineCpu>, to = machineCpu()): number {
  const total = to.total - from.total
  return total === 0 ? 0 : (to.busy - from.busy) / total
}
