import { describe, expect, it } from 'vitest'
import { phaseMs } from '../../bench/lib/action.js'

describe('bench phaseMs', () => {
  it('counts a phase shown in two sections once and sums its repeats, in order of first start', () => {
    const summary = [
      '```mermaid',
      'gantt',
      '  dateFormat x',
      '  section run',
      '  connect :1000, 1300',
      '  lock :1300, 1500',
      '  section 127.0.0.1∶42663',
      '  lock :1300, 1500',
      '  ship :1500, 1900',
      '  switch :1900, 2000',
      '  switch :2000, 2250',
      '  stop-old (1 of 2 hosts) :crit, 2250, 2300',
      '```',
    ].join('\n')
    expect([...phaseMs(summary)]).toEqual([
      ['connect', 300],
      ['lock', 200],
      ['ship', 400],
      ['switch', 350],
      ['stop-old', 50],
    ])
  })
})
