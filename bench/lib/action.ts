/** Runs the built bundle (dist/index.js) as the runner does, timed, and reads its phase timings. */
import { existsSync } from 'node:fs'
import { errorLine, runAction, type ActionRun } from '../../test/action-runner.js'

export function requireBundle(): void {
  if (!existsSync(new URL('../../dist/index.js', import.meta.url))) {
    throw new Error('dist/index.js is missing: run npm run build first')
  }
}

export interface TimedRun {
  /** Wall time of the main step (the deploy), from spawning node to its exit. */
  ms: number
  /** Wall time of the post step (runs at the end of the job; releases what main could not). */
  postMs: number
  run: ActionRun
}

/** One run of the action (main and post step); throws its first `::error::` line when main fails. */
export async function timedAction(
  inputs: Record<string, string>,
  options: { measureCpu?: boolean } = {},
): Promise<TimedRun> {
  const run = await runAction(inputs, options)
  if (run.main.exitCode !== 0) {
    throw new Error(`deploy failed: ${errorLine(run.main.log) || run.main.log}`)
  }
  return { ms: run.main.ms, postMs: run.post.ms, run }
}

/**
 * Milliseconds per phase from the job summary's mermaid gantt chart (`  <phase> :<start>, <end>`
 * lines, epoch ms), in order of first start: per phase the length of the union of its spans over
 * every section, so a phase shown both in the run's section and in a host's (the lock) counts once,
 * and one that ran more than once counts each run.
 */
export function phaseMs(summary: string): Map<string, number> {
  const spans: { phase: string; start: number; end: number }[] = []
  for (const m of summary.matchAll(/^ {2}([a-z-]+)(?: \([^)]*\))? :(?:crit, )?(\d+), (\d+)$/gm)) {
    spans.push({ phase: m[1]!, start: Number(m[2]), end: Number(m[3]) })
  }
  const totals = new Map<string, number>()
  const coveredUntil = new Map<string, number>()
  for (const s of spans.sort((a, b) => a.start - b.start)) {
    const from = Math.max(s.start, coveredUntil.get(s.phase) ?? s.start)
    totals.set(s.phase, (totals.get(s.phase) ?? 0) + Math.max(0, s.end - from))
    coveredUntil.set(s.phase, Math.max(s.end, coveredUntil.get(s.phase) ?? s.end))
  }
  return totals
}
