import { describe, expect, it } from 'vitest'
import { countsOption, numberOption, stringOption } from '../../bench/lib/cli.js'
import { medianPhases, ratio } from '../../bench/lib/scale.js'

describe('bench options', () => {
  it('reads --name N and --name=N, and gives the fallback when absent', () => {
    expect(numberOption('rtt', undefined, { argv: ['--rtt', '50'] })).toBe(50)
    expect(numberOption('rtt', undefined, { argv: ['--only', 'a', '--rtt=0'] })).toBe(0)
    expect(numberOption('rtt', undefined, { argv: ['--repeats', '3'] })).toBeUndefined()
    expect(numberOption('repeats', 3, { min: 1, argv: [] })).toBe(3)
    expect(stringOption('health-interval', ['--health-interval=1s'])).toBe('1s')
  })

  it('rejects what is not a whole number at or above the minimum, naming the option', () => {
    expect(() => numberOption('rtt', undefined, { argv: ['--rtt'] })).toThrow(
      "--rtt: expected a whole number ≥ 0; got ''",
    )
    expect(() => numberOption('rtt', undefined, { argv: ['--rtt', '50ms'] })).toThrow(
      /--rtt.*'50ms'/,
    )
    expect(() => numberOption('rtt', undefined, { argv: ['--rtt', '-5'] })).toThrow(/--rtt/)
    expect(() => numberOption('repeats', 3, { min: 1, argv: ['--repeats', '0'] })).toThrow(
      "--repeats: expected a whole number ≥ 1; got '0'",
    )
  })

  it('reads --sizes as counts in the order given', () => {
    expect(countsOption('sizes', [1, 4, 16], ['--sizes', '1,16'])).toEqual([1, 16])
    expect(countsOption('sizes', [1, 4, 16], [])).toEqual([1, 4, 16])
    expect(() => countsOption('sizes', [1], ['--sizes', '1,,16'])).toThrow(/--sizes.*'1,,16'/)
    expect(() => countsOption('sizes', [1], ['--sizes', '0'])).toThrow(/--sizes/)
  })
})

describe('bench scale figures', () => {
  it('takes the median per phase, a phase missing from a run counting 0 there', () => {
    const runs = [
      new Map([
        ['connect', 300],
        ['ship', 900],
      ]),
      new Map([
        ['connect', 100],
        ['ship', 700],
        ['record', 50],
      ]),
      new Map([
        ['connect', 200],
        ['ship', 800],
        ['record', 40],
      ]),
    ]
    expect([...medianPhases(runs)]).toEqual([
      ['connect', 200],
      ['ship', 800],
      ['record', 40],
    ])
    expect(ratio(2700, 1250)).toBe('2.16×')
  })
})
