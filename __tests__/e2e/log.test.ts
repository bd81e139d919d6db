/**
 * The log a person watches (issue 16): a few lines per deploy, one per phase, a heartbeat during
 * long waits, the transcript of remote commands only in debug output, no control bytes. The
 * built bundle, run like the runner, against real hosts.
 */
import { rmSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorLine, runAction, type StepResult } from '../../test/action-runner.js'
import { addSite, deployInputs, makeRelease, servedVersion } from '../../test/deploy-fixture.js'
import { startLab, type Lab, type LabHost } from '../../test/hosts/index.js'
import { waitFor } from '../../test/wait.js'

let lab: Lab
const releases: string[] = []

beforeAll(async () => {
  lab = await startLab({ hosts: 16, name: 'log' })
})

afterAll(async () => {
  await lab?.stop()
  releases.forEach((dir) => rmSync(dir, { recursive: true, force: true }))
})

function release(version: string, behaviour?: Record<string, unknown>): string {
  const dir = makeRelease(version, behaviour)
  releases.push(dir)
  return dir
}

/**
 * The lines counted as visible: all but `::debug::` ones, which the runner shows only with step
 * debug logging on. (`::add-mask::` lines count too, although the runner never shows them.)
 */
function visible(lines: string[]): string[] {
  return lines.filter((line) => !line.startsWith('::debug::'))
}

function visibleOf(step: StepResult): string[] {
  return visible(step.log.split('\n').filter((line, i, all) => line !== '' || i < all.length - 1))
}

/** Between spawning the step and each shown line, and between shown lines: under 10 s. */
function expectNoLongSilence(shown: { ms: number; text: string }[]): void {
  let previous = 0
  const gaps = shown.map((line) => {
    const gap = { gap: Math.round(line.ms - previous), text: line.text }
    previous = line.ms
    return gap
  })
  const longest = gaps.reduce((max, g) => (g.gap > max.gap ? g : max))
  expect(longest.gap, `${longest.gap} ms of silence before: ${longest.text}`).toBeLessThan(10_000)
}

// C0 controls but tab and newline, DEL, C1 controls.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/

async function deploy(
  hosts: LabHost[],
  version: string,
  behaviour?: Record<string, unknown>,
  extra: Record<string, string> = {},
) {
  const run = await runAction(
    deployInputs(lab, hosts, release(version, behaviour), {
      version,
      'max-parallel': '16',
      'health-timeout': '40s',
      'health-interval': '1s',
      ...extra,
    }),
  )
  expect(errorLine(run.main.log)).toBe('')
  expect(run.main.outputs.status).toBe('deployed')
  return run.main
}

describe('one host, blue-green', () => {
  let host: LabHost
  beforeAll(async () => {
    host = lab.hosts[0]!
    await deploy([host], 'v1')
    await addSite(host, 'shop')
  })

  it('prints one line per phase, at most 60, with the transcript only in debug output', async () => {
    const main = await deploy([host], 'v2')
    const shown = visibleOf(main)
    expect(shown.length, shown.join('\n')).toBeLessThanOrEqual(60)
    expect(shown).toContain(`Deploying shop v2 to ${host.address} (blue-green)`)
    // One host switches in one command: its line is "switch" (several hosts: "nginx reload").
    for (const phase of ['ship', 'start', 'health', 'switch', 'drain', 'stop-old']) {
      expect(shown.join('\n')).toMatch(
        new RegExp(`^\\[${host.address}\\] ${phase}: .*\\(\\d+\\.\\ds\\)$`, 'm'),
      )
    }
    expect(shown.join('\n')).toContain(`[${host.address}] health: healthy after`)
    expect(shown.at(-1)).toMatch(/^deployed: shop v2 in \d+\.\ds$/)
    // No group is titled by the bare phase (there were four called "switch").
    expect(shown.filter((line) => line.startsWith('::group::'))).toEqual([])
    // The transcript is all there, in debug output: remote scripts and the state read.
    expect(main.log).toContain(`::debug::[${host.address}] lock: $ sh -c`)
    expect(main.log).toContain(`::debug::[${host.address}] read state:   "liveSlot": "blue",`)
    expect(shown.join('\n')).not.toContain('$ sh -c')
    expect(shown.join('\n')).not.toContain('"liveSlot"')
    // state.json and the upstream file are read in one go, separated by a NUL byte.
    expect(main.log).not.toMatch(CONTROL)
    expect(await servedVersion(host)).toBe('v2')
  })

  it('says how the health check goes while a slow app boots: never 10 s without a line', async () => {
    const main = await deploy([host], 'v3', { bootDelayMs: 12_000 })
    const shown = main.lines.filter((line) => visible([line.text]).length === 1)
    const beats = shown.filter((line) => line.text.startsWith('health, '))
    expect(beats.length, shown.map((l) => l.text).join('\n')).toBeGreaterThanOrEqual(1)
    expect(beats[0]!.text).toMatch(
      new RegExp(
        `^health, \\d+\\.\\ds: \\[${host.address}\\] attempt \\d+, last answer: .+ left\\)$`,
      ),
    )
    expectNoLongSilence(shown)
    expect(shown.at(-1)!.text).toMatch(/^deployed: shop v3 in \d+\.\ds$/)
    expect(main.log).not.toMatch(CONTROL)
  })

  it('says how many connections the old slot still has while it drains a slow request', async () => {
    const slow = fetch(`http://${host.address}/slow?ms=12000`, {
      signal: AbortSignal.timeout(30_000),
    }).then((r) => r.status)
    await waitFor(
      async () =>
        (await host.sh("ss -Htn state established '( sport = :3001 or sport = :3002 )'")).stdout,
      { what: 'the slow request to reach the app' },
    )
    const main = await deploy([host], 'v4', undefined, { 'drain-timeout': '30s' })
    expect(await slow).toBe(200)
    const shown = main.lines.filter((line) => visible([line.text]).length === 1)
    const beat = shown.find((line) => line.text.startsWith('drain, '))
    expect(beat?.text, shown.map((l) => l.text).join('\n')).toMatch(
      new RegExp(
        `^drain, \\d+\\.\\ds: \\[${host.address}\\] \\d+ connection\\(s\\) to port \\d+ left after \\d+\\.\\ds \\(drain-timeout 30\\.0s\\)$`,
      ),
    )
    expect(shown.map((l) => l.text)).toContainEqual(
      expect.stringMatching(new RegExp(`^\\[${host.address}\\] drain: (blue|green) slot idle \\(`)),
    )
    expectNoLongSilence(shown)
  })
})

describe('16 hosts, blue-green', () => {
  it('prints one line per phase for the fleet, naming the slowest host: at most 150 lines', async () => {
    const hosts = lab.hosts
    const first = await deploy(hosts, 'f1')
    expect(visibleOf(first).length).toBeLessThanOrEqual(150)
    const main = await deploy(hosts, 'f2')
    const shown = visibleOf(main)
    expect(shown.length, shown.join('\n')).toBeLessThanOrEqual(150)
    expect(shown).toContain('Deploying shop f2 to 16 hosts (blue-green)')
    const addresses = hosts.map((h) => h.address.replace(/\./g, '\\.')).join('|')
    expect(shown.join('\n')).toMatch(
      new RegExp(`^ship: 16 hosts, f2 uploaded .*\\(\\d+\\.\\ds, slowest (${addresses})\\)$`, 'm'),
    )
    expect(shown.join('\n')).toMatch(/^nginx reload: 16 hosts[ ,]/m)
    expect(main.log).not.toMatch(CONTROL)
  })

  it('a failed deploy to 2 hosts: a line per host saying why, and the whole error once', async () => {
    const two = lab.hosts.slice(1, 3)
    const run = await runAction(
      deployInputs(lab, two, release('bad', { healthStatus: 503 }), {
        version: 'bad',
        'health-timeout': '3s',
      }),
    )
    expect(run.main.outputs.status).toBe('failed')
    const shown = visibleOf(run.main)
    expect(shown.length, shown.join('\n')).toBeLessThanOrEqual(60)
    for (const host of two) {
      expect(shown).toContainEqual(
        expect.stringMatching(
          new RegExp(
            `^\\[${host.address}\\] health: failed after \\d+\\.\\ds: (blue|green) slot \\(port 300[12]\\) not healthy within health-timeout \\(3s\\); last check: GET /health answered 503$`,
          ),
        ),
      )
    }
    expect(shown).toContainEqual(
      expect.stringMatching(/^failed after \d+\.\ds; every remote command/),
    )
    expect(errorLine(run.main.log)).toContain('answered 503')
    expect(run.main.log).not.toMatch(CONTROL)
  })
})
