import { describe, expect, it } from 'vitest'
import { inTurnOnEachHost, type DeployContext, type PhaseHost } from '../../src/deploy/context.js'
import { HostLogs } from '../../src/report/log.js'
import { testSettings } from '../../test/settings.js'

const settings = testSettings({
  hosts: 'web1',
  'known-hosts': 'web1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample',
})

function host(name: string): PhaseHost {
  return { name, progress: '', report: { host: name, phases: [] } as never }
}

function contextOf(): DeployContext {
  return {
    settings,
    version: '2.0.0',
    hosts: [],
    workerHosts: [],
    phases: [],
    canarySteps: [],
    watches: [],
    logs: new HostLogs(),
  }
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('inTurnOnEachHost', () => {
  it('lets a fast host begin its next phase while a slow one is still in the first', async () => {
    const events: string[] = []
    const [slow, fast] = [host('slow'), host('fast')]
    const phase = (name: 'ship' | 'start', ms: (h: PhaseHost) => number) => ({
      phase: name,
      step: async (h: PhaseHost) => {
        events.push(`${h.name} ${name}`)
        await delay(ms(h))
        events.push(`${h.name} ${name} done`)
      },
    })
    await inTurnOnEachHost(
      contextOf(),
      [slow, fast],
      [phase('ship', (h) => (h === slow ? 60 : 1)), phase('start', () => 1)],
    )
    expect(events.indexOf('fast start')).toBeLessThan(events.indexOf('slow ship done'))
    expect(events.filter((e) => e.endsWith('done'))).toHaveLength(4)
    expect(slow.report.phases.map((p) => p.phase)).toEqual(['ship', 'start'])
  })

  it('begins no further phase on any host once one failed, and throws that failure', async () => {
    const started: string[] = []
    const [bad, good] = [host('bad'), host('good')]
    const run = inTurnOnEachHost(
      contextOf(),
      [bad, good],
      [
        {
          phase: 'ship',
          step: async (h) => {
            started.push(`${h.name} ship`)
            if (h === bad) throw new Error('disk full')
            await delay(30)
          },
        },
        { phase: 'start', step: async (h) => void started.push(`${h.name} start`) },
      ],
    )
    await expect(run).rejects.toThrow('disk full')
    expect(started).toEqual(['bad ship', 'good ship'])
    expect(bad.report.error).toBe('disk full')
    expect(good.report.phases.map((p) => p.phase)).toEqual(['ship'])
  })
})
