/** How a dry run is shown: log lines per host, the job summary and the outputs (pure). */
import { cell, table } from './markdown.js'
import type { HostCheck } from './model.js'

export function planLines(check: HostCheck, upstreamFile: string): string[] {
  const { plan } = check
  const lines = plan
    ? [
        `live: ${plan.liveSlot ? `${plan.liveSlot} (${plan.liveVersion ?? 'unknown version'})` : 'nothing yet (first deploy)'}`,
        `would start the new version on ${plan.targetSlot} (port ${plan.targetPort}) from ${plan.releaseDir}`,
        `would switch nginx via ${upstreamFile}`,
      ]
    : []
  const verdict =
    check.problems.length === 0 ? ['ready'] : check.problems.map((p) => `problem: ${p}`)
  const canary = check.canary && !check.canary.blocking ? [evidenceText(check.canary)] : []
  return [
    ...lines,
    ...(check.notes ?? []),
    ...canary,
    ...(check.warnings ?? []).map((w) => `warning: ${w}`),
    ...verdict,
  ]
}

/** `canary evidence: yes: ...` (or `watch evidence`). */
function evidenceText(evidence: NonNullable<HostCheck['canary']>): string {
  return `${evidence.for} evidence: ${evidence.available ? 'yes' : 'no'}: ${evidence.why}`
}

export function dryRunSummary(checks: HostCheck[], version: string): string {
  const failed = checks.filter((c) => c.problems.length > 0)
  const headline =
    failed.length === 0
      ? `### ✅ Dry run: all ${checks.length} host(s) ready to deploy ${cell(version)}`
      : `### ❌ Dry run: ${failed.length} of ${checks.length} host(s) not ready to deploy ${cell(version)}`
  const rows = checks.map((c) => [
    cell(c.host),
    cell(
      c.plan?.liveSlot
        ? `${c.plan.liveSlot} ${c.plan.liveVersion ?? ''}`.trim()
        : c.plan
          ? 'none'
          : '?',
    ),
    cell(c.plan ? `${c.plan.targetSlot} :${c.plan.targetPort}` : '?'),
    [
      c.problems.length === 0 ? 'ready' : c.problems.map(cell).join('<br>'),
      ...(c.canary && !c.canary.blocking ? [cell(evidenceText(c.canary))] : []),
    ].join('<br>'),
  ])
  return [
    headline,
    '',
    table(['Host', 'Live now', 'Would start', 'Result'], rows),
    '',
    'Nothing was changed on any host.',
    '',
  ].join('\n')
}

/** Per-host JSON for the `hosts` output. */
export function dryRunHostsOutput(checks: HostCheck[]): string {
  return JSON.stringify(
    checks.map((c) => ({
      host: c.host,
      result: c.problems.length === 0 ? 'ready' : 'not-ready',
      liveSlot: c.plan?.liveSlot ?? null,
      liveVersion: c.plan?.liveVersion ?? null,
      targetSlot: c.plan?.targetSlot ?? null,
      problems: c.problems,
      ...(c.canary && { canaryEvidence: c.canary.available, canaryEvidenceWhy: c.canary.why }),
    })),
  )
}
