import { describe, expect, it } from 'vitest'
import { mermaidText, renderGantt } from '../../src/report/gantt.js'
import { codeBlock, noMentions, plain, tail } from '../../src/report/markdown.js'
import {
  newWindow,
  type HostReport,
  type Phase,
  type PhaseTiming,
  type RunReport,
} from '../../src/report/model.js'
import { runOutputs, watchVerdict } from '../../src/report/outputs.js'
import {
  hostDetails,
  hostRow,
  humanDuration,
  renderSummary,
  SUMMARY_BUDGET_BYTES,
} from '../../src/report/summary.js'

const T0 = 1_700_000_000_000

function phase(name: Phase, from: number, to: number, failed = false): PhaseTiming {
  return { phase: name, startedAt: T0 + from, endedAt: T0 + to, ...(failed ? { failed } : {}) }
}

/** A host that moved from v1 on blue to v2 on green; phases start at `at` ms into the run. */
function host(name: string, overrides: Partial<HostReport> = {}, at = 2000): HostReport {
  return {
    host: name,
    outcome: 'deployed',
    liveSlot: 'green',
    liveVersion: 'v2',
    previousSlot: 'blue',
    previousVersion: 'v1',
    phases: [
      phase('ship', at, at + 1500),
      phase('start', at + 1500, at + 2000),
      phase('health', at + 2000, at + 4000),
      phase('switch', at + 6000, at + 6250),
      phase('drain', at + 6250, at + 16250),
      phase('stop-old', at + 16250, at + 17000),
    ],
    ...overrides,
  }
}

function report(overrides: Partial<RunReport> = {}): RunReport {
  return {
    status: 'deployed',
    strategy: 'blue-green',
    app: 'shop',
    version: 'v2',
    previousVersion: 'v1',
    liveSlot: 'green',
    previousSlot: 'blue',
    hosts: [host('web1.example.com'), host('deploy@[2001:db8::1]:2222', {}, 2100)],
    phases: [phase('build', 0, 1500), phase('connect', 1500, 2000), phase('record', 19200, 19500)],
    canarySteps: [],
    watches: [],
    startedAt: T0,
    endedAt: T0 + 19_600,
    url: 'https://shop.example.com',
    deploymentId: 42,
    runUrl: 'https://github.com/acme/shop/actions/runs/7',
    ...overrides,
  }
}

/** Hosts that kept v1 on blue after a failed health check on the second one. */
function failedReport(): RunReport {
  const kept = { outcome: 'reverted', liveSlot: 'blue', liveVersion: 'v1' } as const
  return report({
    status: 'failed',
    liveSlot: 'blue',
    hosts: [
      host('web1', { ...kept, phases: [phase('ship', 2000, 3000), phase('start', 3000, 3500)] }),
      host('web2', {
        ...kept,
        outcome: 'failed',
        phases: [
          phase('ship', 2000, 3200),
          phase('start', 3200, 3600),
          phase('health', 3600, 33600, true),
        ],
        error: 'health check of green timed out after 30s: GET /health -> 502',
      }),
    ],
    phases: [phase('build', 0, 1500), phase('connect', 1500, 2000)],
    endedAt: T0 + 34_000,
    error: 'web2: health check of green timed out after 30s',
    deploymentId: undefined,
  })
}

/** The text outside the code blocks that the summary writes (fences of 3 or more backticks). */
function outsideCode(markdown: string): string {
  return markdown.replace(/^(`{3,})[^\n]*\n[\s\S]*?^\1$/gm, '')
}

describe('runOutputs', () => {
  it('gives every output for a deployed run', () => {
    const outputs = runOutputs(report())
    expect({ ...outputs, hosts: JSON.parse(outputs.hosts ?? '') }).toEqual({
      status: 'deployed',
      version: 'v2',
      'previous-version': 'v1',
      'live-slot': 'green',
      'previous-slot': 'blue',
      hosts: [
        {
          host: 'web1.example.com',
          outcome: 'deployed',
          slot: 'green',
          version: 'v2',
          previousSlot: 'blue',
          previousVersion: 'v1',
          seconds: { ship: 1.5, start: 0.5, health: 2, switch: 0.25, drain: 10, 'stop-old': 0.75 },
        },
        {
          host: 'deploy@[2001:db8::1]:2222',
          outcome: 'deployed',
          slot: 'green',
          version: 'v2',
          previousSlot: 'blue',
          previousVersion: 'v1',
          seconds: { ship: 1.5, start: 0.5, health: 2, switch: 0.25, drain: 10, 'stop-old': 0.75 },
        },
      ],
      'duration-seconds': '20',
      'deployment-id': '42',
      url: 'https://shop.example.com',
      'watch-verdict': '',
    })
  })

  it('gives the version that still serves after a failed run, and the errors', () => {
    const outputs = runOutputs(failedReport())
    expect(outputs).toEqual({
      status: 'failed',
      version: 'v1',
      'previous-version': 'v1',
      'live-slot': 'blue',
      'previous-slot': 'blue',
      hosts: JSON.stringify([
        {
          host: 'web1',
          outcome: 'reverted',
          slot: 'blue',
          version: 'v1',
          previousSlot: 'blue',
          previousVersion: 'v1',
          seconds: { ship: 1, start: 0.5 },
        },
        {
          host: 'web2',
          outcome: 'failed',
          slot: 'blue',
          version: 'v1',
          previousSlot: 'blue',
          previousVersion: 'v1',
          seconds: { ship: 1.2, start: 0.4, health: 30 },
          error: 'health check of green timed out after 30s: GET /health -> 502',
        },
      ]),
      'duration-seconds': '34',
      'deployment-id': '',
      url: 'https://shop.example.com',
      'watch-verdict': '',
    })
  })

  it('gives empty strings for what a first, unchanged run without URL does not have', () => {
    const outputs = runOutputs(
      report({
        status: 'unchanged',
        previousVersion: null,
        previousSlot: null,
        hosts: [],
        phases: [],
        endedAt: T0 + 1499,
        url: '',
        deploymentId: undefined,
      }),
    )
    expect(outputs).toEqual({
      status: 'unchanged',
      version: 'v2',
      'previous-version': '',
      'live-slot': 'green',
      'previous-slot': '',
      hosts: '[]',
      'duration-seconds': '1',
      'deployment-id': '',
      url: '',
      'watch-verdict': '',
    })
  })

  it('gives the connections a drain left open at drain-timeout', () => {
    const hosts = [host('web1', { openAfterDrain: 12 }), host('web2')]
    const [web1, web2] = JSON.parse(runOutputs(report({ hosts })).hosts ?? '')
    expect(web1.openAfterDrain).toBe(12)
    expect(web2).not.toHaveProperty('openAfterDrain')
  })

  it('sums a phase that ran more than once and keeps only the end of a long error', () => {
    const [output] = JSON.parse(
      runOutputs(
        report({
          hosts: [
            host('web1', {
              phases: [
                phase('health', 0, 1234),
                phase('switch', 1234, 1300),
                phase('health', 1300, 2300),
              ],
              error: `\u001b[31m${'x'.repeat(5000)}END\u001b[0m`,
            }),
          ],
        }),
      ).hosts ?? '',
    )
    expect(output.seconds).toEqual({ health: 2.23, switch: 0.07 })
    expect(output.error).toBe(`…${'x'.repeat(1997)}END`)
  })
})

describe('renderGantt', () => {
  it('draws run-wide phases and each host in its own section, failed phases crit', () => {
    const r = report({
      hosts: [
        host('deploy@[2001:db8::1]:2222', {
          phases: [phase('ship', 2000, 3500), phase('health', 3500, 9000, true)],
        }),
      ],
    })
    expect(renderGantt(r)).toBe(
      [
        '```mermaid',
        'gantt',
        '  dateFormat x',
        '  axisFormat %H:%M:%S',
        '  todayMarker off',
        '  section run',
        '  build :1700000000000, 1700000001500',
        '  connect :1700000001500, 1700000002000',
        '  record :1700000019200, 1700000019500',
        '  section deploy@[2001∶db8∶∶1]∶2222',
        '  ship :1700000002000, 1700000003500',
        '  health :crit, 1700000003500, 1700000009000',
        '```',
      ].join('\n'),
    )
  })

  it('shows more than 10 hosts as one section: earliest start to latest end per phase', () => {
    const hosts = Array.from({ length: 12 }, (_, i) =>
      host(`web${i + 1}`, {
        phases: [
          phase('ship', 2000 + i * 100, 3000 + i * 100),
          phase('health', 3000 + i * 100, 4000 + i * 100, i === 11),
          ...(i < 5 ? [phase('drain', 5000, 6000 + i)] : []),
        ],
      }),
    )
    expect(renderGantt(report({ hosts, phases: [phase('build', 0, 2000)] }))).toBe(
      [
        '```mermaid',
        'gantt',
        '  dateFormat x',
        '  axisFormat %H:%M:%S',
        '  todayMarker off',
        '  section run',
        '  build :1700000000000, 1700000002000',
        '  section all 12 hosts',
        '  ship :1700000002000, 1700000004100',
        '  health (1 failed) :crit, 1700000003000, 1700000005100',
        '  drain (5 of 12 hosts) :1700000005000, 1700000006004',
        '```',
      ].join('\n'),
    )
  })

  it('is empty when nothing was timed', () => {
    expect(renderGantt(report({ hosts: [host('web1', { phases: [] })], phases: [] }))).toBe('')
  })

  it('makes names safe for mermaid', () => {
    expect(mermaidText('web#1;%%{init}%%\n: x')).toBe('web_1____init____∶ x')
    expect(mermaidText('')).toBe('_')
    expect(mermaidText('h'.repeat(70))).toBe(`${'h'.repeat(60)}…`)
  })
})

describe('renderSummary', () => {
  it('renders a deployed run', () => {
    expect(renderSummary(report())).toBe(
      [
        '### ✅ shop v2 deployed to 2 hosts (blue-green) in 20 s',
        '',
        'Previous version: v1 (blue). Now serving v2 (green).',
        '',
        'URL: <https://shop.example.com>',
        '',
        '#### Hosts',
        '',
        '| Host | Result | Live slot | Version | Previous | Ship | Start+health | Switch | Drain | Total |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
        '| web1.example.com | ✅ deployed | green | v2 | v1 (blue) | 1.5 s | 2.5 s | 0.3 s | 10 s | 17 s |',
        '| deploy@\\[2001:db8::1\\]:2222 | ✅ deployed | green | v2 | v1 (blue) | 1.5 s | 2.5 s | 0.3 s | 10 s | 17 s |',
        '',
        '#### Timeline',
        '',
        '```mermaid',
        'gantt',
        '  dateFormat x',
        '  axisFormat %H:%M:%S',
        '  todayMarker off',
        '  section run',
        '  build :1700000000000, 1700000001500',
        '  connect :1700000001500, 1700000002000',
        '  record :1700000019200, 1700000019500',
        '  section web1.example.com',
        '  ship :1700000002000, 1700000003500',
        '  start :1700000003500, 1700000004000',
        '  health :1700000004000, 1700000006000',
        '  switch :1700000008000, 1700000008250',
        '  drain :1700000008250, 1700000018250',
        '  stop-old :1700000018250, 1700000019000',
        '  section deploy@[2001∶db8∶∶1]∶2222',
        '  ship :1700000002100, 1700000003600',
        '  start :1700000003600, 1700000004100',
        '  health :1700000004100, 1700000006100',
        '  switch :1700000008100, 1700000008350',
        '  drain :1700000008350, 1700000018350',
        '  stop-old :1700000018350, 1700000019100',
        '```',
        '',
        '#### How to roll back',
        '',
        'To switch every host back to v1, run this action again with the same inputs (hosts, keys, `app-name`) and these added, e.g. from a `workflow_dispatch` workflow:',
        '',
        '```yaml',
        'with:',
        '  app-name: shop',
        '  rollback: true',
        "  rollback-to: 'v1'",
        '```',
        '',
        'This run: <https://github.com/acme/shop/actions/runs/7>',
        '',
      ].join('\n'),
    )
  })

  it('renders a failed run: the error, what still serves, each host error', () => {
    expect(renderSummary(failedReport())).toBe(
      [
        '### ❌ Deploying shop v2 to 2 hosts (blue-green) failed after 34 s',
        '',
        '```text',
        'web2: health check of green timed out after 30s',
        '```',
        '',
        'No host switched to v2: every host still serves the previous version, v1 (blue), as the table shows.',
        '',
        '#### Hosts',
        '',
        '| Host | Result | Live slot | Version | Previous | Ship | Start+health | Switch | Drain | Total |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
        '| web1 | ↩️ reverted | blue | v1 | v1 (blue) | 1.0 s | 0.5 s | – | – | 1.5 s |',
        '| web2 | ❌ failed | blue | v1 | v1 (blue) | 1.2 s | 30 s ❌ | – | – | 32 s |',
        '',
        '<details><summary>❌ Error on web2</summary>',
        '',
        '```text',
        'health check of green timed out after 30s: GET /health -> 502',
        '```',
        '',
        '</details>',
        '',
        '#### Timeline',
        '',
        '```mermaid',
        'gantt',
        '  dateFormat x',
        '  axisFormat %H:%M:%S',
        '  todayMarker off',
        '  section run',
        '  build :1700000000000, 1700000001500',
        '  connect :1700000001500, 1700000002000',
        '  section web1',
        '  ship :1700000002000, 1700000003000',
        '  start :1700000003000, 1700000003500',
        '  section web2',
        '  ship :1700000002000, 1700000003200',
        '  start :1700000003200, 1700000003600',
        '  health :crit, 1700000003600, 1700000033600',
        '```',
        '',
        '#### How to roll back',
        '',
        'Nothing to roll back: no host serves v2.',
        '',
        'This run: <https://github.com/acme/shop/actions/runs/7>',
        '',
      ].join('\n'),
    )
  })

  it('says how many hosts serve the new version when some switched before the failure', () => {
    const r = failedReport()
    r.hosts[0] = host('web1')
    const text = renderSummary(r)
    expect(text).toContain(
      '\n1 of 2 hosts serve v2; the others still serve their previous version, as the table shows.\n',
    )
    expect(text).toContain("  rollback-to: 'v1'\n")
  })

  it('renders an unchanged run', () => {
    const r = report({
      status: 'unchanged',
      previousVersion: 'v2',
      previousSlot: 'green',
      hosts: [
        host('web1', {
          outcome: 'unchanged',
          previousSlot: 'green',
          previousVersion: 'v2',
          phases: [],
        }),
      ],
      phases: [],
      endedAt: T0 + 2400,
      url: '',
      runUrl: '',
    })
    expect(renderSummary(r)).toBe(
      [
        '### ✅ shop v2 was already live on 1 host: nothing changed (2.4 s)',
        '',
        'Every host already served v2 (green); nothing was changed.',
        '',
        '#### Hosts',
        '',
        '| Host | Result | Live slot | Version | Previous | Ship | Start+health | Switch | Drain | Total |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
        '| web1 | ✅ unchanged | green | v2 | v2 (green) | – | – | – | – | – |',
        '',
        '#### How to roll back',
        '',
        'To switch every host back to the previous release, run this action again with the same inputs (hosts, keys, `app-name`) and these added, e.g. from a `workflow_dispatch` workflow:',
        '',
        '```yaml',
        'with:',
        '  app-name: shop',
        '  rollback: true',
        '```',
        '',
      ].join('\n'),
    )
  })

  it('offers to undo a rollback, and says a first deploy has nothing to roll back to', () => {
    const rolledBack = renderSummary(
      report({
        status: 'rolled-back',
        version: 'v1',
        previousVersion: 'v2',
        previousSlot: 'green',
        liveSlot: 'blue',
      }),
    )
    expect(rolledBack.split('\n').slice(0, 3)).toEqual([
      '### ↩️ shop rolled back to v1 on 2 hosts in 20 s',
      '',
      'Rolled back from v2 (green). Now serving v1 (blue).',
    ])
    expect(rolledBack).toContain("  rollback-to: 'v2'\n")
    const first = renderSummary(report({ previousVersion: null, previousSlot: null }))
    expect(first).toContain('\nFirst deploy: nothing served before. Now serving v2 (green).\n')
    expect(first).toContain('\nNothing to roll back to: this was the first deploy of shop.\n')
  })

  it('leaves rollback-to out when the previous version is not a valid version input', () => {
    const text = renderSummary(report({ previousVersion: "v1'\n  sudo: true" }))
    expect(text).toContain('```yaml\nwith:\n  app-name: shop\n  rollback: true\n```')
    expect(text).toContain('so `rollback-to` is left out')
  })
  it('says rollback when a rollback fails, naming the version asked for', () => {
    const unchanged: Partial<HostReport> = {
      outcome: 'failed',
      liveSlot: 'blue',
      liveVersion: 'v2',
      phases: [],
    }
    const failed = report({
      status: 'failed',
      version: 'c0ffee1',
      rollbackTo: 'nope',
      previousVersion: 'v2',
      hosts: [host('web1', unchanged), host('web2', unchanged)],
      phases: [phase('connect', 0, 500)],
      endedAt: T0 + 3000,
      error: "web1: rollback: version nope is not in this host's history",
    })
    const markdown = renderSummary(failed)
    expect(markdown.split('\n')[0]).toBe(
      '### ❌ Rolling back shop to nope on 2 hosts failed after 3.0 s',
    )
    expect(markdown).toContain(
      'No host was rolled back: every host still serves what it served before, as the table shows.',
    )
    expect(markdown).toContain('Nothing to roll back: this rollback changed no host.')
    expect(markdown).not.toContain('Deploying')
    expect(markdown).not.toContain('c0ffee1')
    const previous = renderSummary({ ...failed, rollbackTo: '' }).split('\n')[0]
    expect(previous).toBe(
      '### ❌ Rolling back shop to the previous release on 2 hosts failed after 3.0 s',
    )
  })
})

describe('renderSummary after a drain that reached drain-timeout', () => {
  it("shows the connections left open in the host's Drain cell and a note below the table", () => {
    const text = renderSummary(
      report({ hosts: [host('web1', { openAfterDrain: 12 }), host('web2', {}, 2100)] }),
    )
    expect(text).toContain(
      [
        '| web1 | ✅ deployed | green | v2 | v1 (blue) | 1.5 s | 2.5 s | 0.3 s | 10 s, 12 left open | 17 s |',
        '| web2 | ✅ deployed | green | v2 | v1 (blue) | 1.5 s | 2.5 s | 0.3 s | 10 s | 17 s |',
        '',
        'Drain: drain-timeout ended with connections still open on web1 (12); the slot was stopped anyway. Websockets stay open until the app closes them on SIGTERM, so their drain always lasts drain-timeout: keep it to your longest request.',
        '',
        '#### Timeline',
      ].join('\n'),
    )
  })

  it('names at most five hosts in the note, and counts the rest', () => {
    const hosts = Array.from({ length: 7 }, (_, i) => host(`web${i + 1}`, { openAfterDrain: i }))
    const note = renderSummary(report({ hosts }))
      .split('\n')
      .find((line) => line.startsWith('Drain:'))
    expect(note).toContain(
      'on web1 (0), web2 (1), web3 (2), web4 (3), web5 (4) and 2 more hosts; the slot',
    )
  })

  it('has no note when every drain finished', () => {
    expect(renderSummary(report())).not.toContain('Drain:')
  })
})

describe('renderSummary for a canary', () => {
  it('renders a row per step with what reached the new version and the verdict', () => {
    const text = renderSummary(
      report({
        strategy: 'canary',
        status: 'failed',
        canarySteps: [
          {
            ...newWindow('10%'),
            counts: { requests: 1200, errors: 3 },
            p99Ms: 140,
            verdict: 'passed',
          },
          { ...newWindow('25%'), note: 'canary-max-error-rate: off: judged on health only' },
          {
            ...newWindow('50%'),
            counts: { requests: 250, errors: 25 },
            p99Ms: 2400,
            verdict: 'aborted',
            note: 'the new version answered 5xx to 10% of 250 requests (25)',
          },
        ],
      }),
    )
    expect(text).toContain(`#### Canary

| Step | Requests to new version | 5xx | 5xx rate | p99 | Verdict | Note |
| --- | --- | --- | --- | --- | --- | --- |
| 10% | 1,200 | 3 | 0.25% | 140 ms | ✅ passed |  |
| 25% | – | – | – | – | ➖ not judged | canary-max-error-rate: off: judged on health only |
| 50% | 250 | 25 | 10% | 2.4 s | ❌ aborted | the new version answered 5xx to 10% of 250 requests (25) |
`)
  })

  it('has no canary section for other strategies', () => {
    expect(renderSummary(report())).not.toContain('Canary')
  })
})

describe('the watch in the summary and outputs', () => {
  const breached = {
    ...newWindow('watch'),
    counts: { requests: 412, errors: 203 },
    p99Ms: 35,
    verdict: 'aborted' as const,
    note: 'the new version answered 5xx to 49.27% of 412 requests (203), above watch-max-error-rate 5%',
    firstFailures: [
      { host: 'web1', status: 500, at: Date.UTC(2026, 0, 2, 10, 0, 1, 250) },
      { host: 'web2', status: 502, at: Date.UTC(2026, 0, 2, 10, 0, 1, 300) },
    ],
    ms: 3100,
  }

  it('renders a row per watch with its figures, how long it lasted, and the first 5xx answers after a breach', () => {
    const text = renderSummary(
      report({
        status: 'failed',
        watches: [
          {
            ...newWindow('batch 1'),
            counts: { requests: 900, errors: 0 },
            p99Ms: 12,
            verdict: 'passed',
            ms: 45_000,
          },
          { ...breached, label: 'batch 2' },
        ],
      }),
    )
    expect(text).toContain(`#### Watch

| Watch | Requests to new version | 5xx | 5xx rate | p99 | Lasted | Verdict | Note |
| --- | --- | --- | --- | --- | --- | --- | --- |
| batch 1 | 900 | 0 | 0% | 12 ms | 45 s | ✅ passed |  |
| batch 2 | 412 | 203 | 49.27% | 35 ms | 3.1 s | ❌ breached | the new version answered 5xx to 49.27% of 412 requests (203), above watch-max-error-rate 5% |

First 5xx answers of the new version: 500 on web1 at 10:00:01.250, 502 on web2 at 10:00:01.300 (UTC).
`)
    expect(renderSummary(report())).not.toContain('#### Watch')
  })

  it('watch-verdict: passed, breached, no-evidence, or empty without a watch', () => {
    expect(watchVerdict([])).toBe('')
    expect(watchVerdict([{ ...newWindow('watch'), verdict: 'passed' }])).toBe('passed')
    expect(watchVerdict([{ ...newWindow('batch 1'), verdict: 'passed' }, breached])).toBe(
      'breached',
    )
    expect(watchVerdict([{ ...breached, failClosed: true, note: 'no evidence' }])).toBe(
      'no-evidence',
    )
    expect(runOutputs(report({ watches: [breached] }))['watch-verdict']).toBe('breached')
    const noneYet = renderSummary(report({ watches: [{ ...breached, failClosed: true }] }))
    expect(noneYet).toContain('❌ no evidence')
  })
})

describe('escaping remote text', () => {
  const hostile =
    'v2|<script>alert(1)</script>`x`](javascript:alert(1)) **b** @admin #1\r\nnext|row'

  it('keeps a hostile version inside its table cell, without HTML or mentions', () => {
    const h = host('web1', {
      liveVersion: hostile,
      previousVersion: '@org/team',
      previousSlot: null,
    })
    expect(hostRow(h)).toEqual([
      'web1',
      '✅ deployed',
      'green',
      'v2\\|&lt;script&gt;alert(1)&lt;/script&gt;\\`x\\`\\](javascript:alert(1)) \\*\\*b\\*\\* @\u200dadmin \\#1<br>next\\|row',
      '@\u200dorg/team',
      '1.5 s',
      '2.5 s',
      '0.3 s',
      '10 s',
      '17 s',
    ])
    const text = renderSummary(
      report({ status: 'failed', version: hostile, hosts: [h], error: hostile }),
    )
    const row = text.split('\n').find((line) => line.startsWith('| web1 '))
    expect(row).toBe(`| ${hostRow(h).join(' | ')} |`)
    expect(outsideCode(text)).not.toMatch(/<script|(?<!\\)\]\(javascript|(?<![A-Za-z0-9])@[a-z]/i)
  })

  it('keeps a hostile error inside its details block and code fence', () => {
    const error = `boom \`\`\`\`\n</details><script>x</script>\n\`\`\`\`\`\n@admin\rend`
    expect(hostDetails(host('deploy@[::1]:22 <b>', { outcome: 'failed', error }))).toBe(
      [
        '<details><summary>❌ Error on deploy@[::1]:22 &lt;b&gt;</summary>',
        '',
        '``````text',
        'boom ````',
        '</details><script>x</script>',
        '`````',
        '@admin',
        'end',
        '``````',
        '',
        '</details>',
      ].join('\n'),
    )
  })

  it('neutralizes mentions but leaves user@host alone', () => {
    expect(noMentions('@a (@b/c) deploy@web1 x@y')).toBe('@\u200da (@\u200db/c) deploy@web1 x@y')
  })

  it('makes remote output printable and cuts it from the front', () => {
    expect(plain('\u001b[1;31mred\u001b[0m\r\nnext\rline\u0000\u202e!')).toBe('red\nnext\nline!')
    expect(tail('abc𝕏', 2)).toBe('…c𝕏')
    expect(codeBlock('a ``` b')).toBe('````\na ``` b\n````')
  })
})

describe('summary size', () => {
  const noise = (i: number) =>
    `host ${i} \`\`\`\`\`|<script>@admin</script>](javascript:x)\n`.repeat(200).slice(0, 10_000)

  it('stays under 1 MiB for 100 hosts with 10 kB of hostile error each, all in the table', () => {
    const hosts = Array.from({ length: 100 }, (_, i) =>
      host(`web${i}.example.com`, { outcome: 'failed', liveVersion: 'v1', error: noise(i) }),
    )
    const text = renderSummary(report({ status: 'failed', hosts, error: noise(0) }))
    expect(Buffer.byteLength(text)).toBeLessThan(1024 * 1024)
    expect(text.split('\n').filter((line) => line.startsWith('| web'))).toHaveLength(100)
    expect(text).toContain('(last 2,000 of 10,000 characters)')
    expect(outsideCode(text)).not.toMatch(/<script|(?<!\\)\]\(javascript|(?<![A-Za-z0-9])@[a-z]/i)
  })

  it('leaves out error details beyond 20 failed hosts, then more, and says so', () => {
    const wide = '𝕏'.repeat(10_000) // 4 bytes a character
    const hosts = Array.from({ length: 500 }, (_, i) =>
      host(`web${i}`, { outcome: 'failed', error: wide }),
    )
    const text = renderSummary(report({ status: 'failed', hosts }))
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(SUMMARY_BUDGET_BYTES)
    expect(text.match(/<details>/g)).toHaveLength(20)
    expect(text).toContain(
      "\n_Left out to stay under GitHub's 1 MiB summary limit: the error details of 480 more hosts. The log has everything._\n",
    )

    const many = Array.from({ length: 20_000 }, (_, i) =>
      host(`web${i}.example.com`, { outcome: 'failed', liveVersion: 'x'.repeat(200), error: 'e' }),
    )
    const cut = renderSummary(report({ status: 'failed', hosts: many }))
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(SUMMARY_BUDGET_BYTES)
    expect(cut).toMatch(
      /_Left out to stay under GitHub's 1 MiB summary limit: [\d,]+ hosts from the table, the error details of every host, the timeline\. The log has everything\._/,
    )
  })
})

describe('humanDuration', () => {
  it('is compact at every scale', () => {
    expect([0, 420, 9949, 9950, 59_499, 59_500, 125_000, 3_780_000].map(humanDuration)).toEqual([
      '0.0 s',
      '0.4 s',
      '9.9 s',
      '10 s',
      '59 s',
      '1 min 0 s',
      '2 min 5 s',
      '1 h 3 min',
    ])
  })
})
