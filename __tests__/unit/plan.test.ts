import { describe, expect, it } from 'vitest'
import { parseInputs } from '../../src/inputs/parse.js'
import { planHost, releasesToPrune, resolveVersion, wentLive } from '../../src/deploy/plan.js'
import { EMPTY_STATE, parseState, type HostState } from '../../src/remote/state.js'

const settings = parseInputs(
  (name) =>
    ({
      hosts: 'web1',
      'ssh-key': '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----',
      'known-hosts': 'web1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample',
      'app-name': 'shop',
      'start-command': 'node server.js',
    })[name] ?? '',
)

function stateWith(live: 'blue' | 'green', history: string[]): HostState {
  const slot = (version: string) => ({ version, port: 3001, pid: 1, startedAt: 't' })
  return {
    schema: 1,
    liveSlot: live,
    slots: {
      blue: slot(history[live === 'blue' ? 0 : 1]!),
      green: slot(history[live === 'green' ? 0 : 1]!),
    },
    history: history.map((version) => ({ version, sha256: 'x', slot: 'blue', deployedAt: 't' })),
  }
}

describe('planHost', () => {
  it('starts on blue on a fresh host', () => {
    expect(planHost(settings, 'web1', EMPTY_STATE, 'v1')).toEqual({
      host: 'web1',
      liveSlot: null,
      liveVersion: null,
      targetSlot: 'blue',
      targetPort: 3001,
      releaseDir: '/srv/shop/releases/v1',
    })
  })

  it('starts on the idle slot', () => {
    const plan = planHost(settings, 'web1', stateWith('blue', ['v2', 'v1']), 'v3')
    expect(plan).toMatchObject({
      liveSlot: 'blue',
      liveVersion: 'v2',
      targetSlot: 'green',
      targetPort: 3002,
    })
  })
})

describe('resolveVersion', () => {
  it('takes the input, else the short commit SHA, else fails', () => {
    expect(resolveVersion('v1.2', 'abcdef1234')).toBe('v1.2')
    expect(resolveVersion('', 'abcdef1234567')).toBe('abcdef1')
    expect(() => resolveVersion('', undefined)).toThrow(
      "Input 'version' is empty and GITHUB_SHA is not set",
    )
  })
})

describe('releasesToPrune', () => {
  it('keeps the newest `keep`, and never the live or previous release', () => {
    const state = stateWith('green', ['v5', 'v4', 'v3', 'v2', 'v1'])
    expect(releasesToPrune(['v1', 'v2', 'v3', 'v4', 'v5', 'stray'], state, 2).sort()).toEqual([
      'stray',
      'v1',
      'v2',
      'v3',
    ])
  })

  it('keeps slot releases even beyond `keep` (a warm slot on an old version)', () => {
    const state = stateWith('green', ['v5', 'v4', 'v3'])
    state.slots.blue = { version: 'v3', port: 3001, pid: 1, startedAt: 't' }
    expect(releasesToPrune(['v3', 'v4', 'v5'], state, 2)).toEqual([])
  })
})

describe('wentLive', () => {
  it('is true for a version in the history or on a slot, false for one that never went live', () => {
    const state = stateWith('green', ['v3', 'v2', 'v1'])
    expect(['v1', 'v2', 'v3', 'v4'].map((v) => wentLive(state, v))).toEqual([
      true,
      true,
      true,
      false,
    ])
    // A warm slot whose release left the history (pruned from it) still counts.
    state.slots.blue = { version: 'v0', port: 3001, pid: 1, startedAt: 't' }
    expect(wentLive(state, 'v0')).toBe(true)
    expect(wentLive(EMPTY_STATE, 'v1')).toBe(false)
    // Switched to and back in a run (a rolling rollback): it served, so it counts.
    expect(wentLive({ ...EMPTY_STATE, switchedBack: ['v9'] }, 'v9')).toBe(true)
  })
})

describe('parseState', () => {
  it('treats a missing file as a fresh host', () => {
    expect(parseState(undefined, '/srv/shop/.deploy/state.json')).toEqual(EMPTY_STATE)
  })

  it('refuses corrupt JSON and explains how to repair', () => {
    expect(() => parseState('{"schema": 1,', '/s/state.json')).toThrow(
      /^\/s\/state\.json is corrupt: not valid JSON .*Nothing was changed\. Repair or restore the file \(a copy of the last good one is \/s\/state\.json\.bak\)/,
    )
  })

  it('refuses a state of the wrong shape, naming the field', () => {
    expect(() =>
      parseState(
        '{"schema":1,"liveSlot":"purple","slots":{"blue":null,"green":null},"history":[]}',
        '/s/state.json',
      ),
    ).toThrow(/^\/s\/state\.json is corrupt: liveSlot: /)
  })

  it('reads history entries with and without the commands they were deployed with', () => {
    const old = { version: 'v1', sha256: 'aa', slot: 'blue', deployedAt: 't1' }
    const commands = { start: 'exec node b.js', stop: '', reload: '' }
    const recorded = { version: 'v2', sha256: 'bb', slot: 'green', deployedAt: 't2', commands }
    const text = JSON.stringify({
      schema: 1,
      liveSlot: 'green',
      slots: { blue: null, green: null },
      history: [recorded, old],
    })
    expect(parseState(text, '/s/state.json').history).toEqual([recorded, old])
  })

  it('refuses recorded commands of the wrong shape', () => {
    const entry = { version: 'v1', sha256: 'aa', slot: 'blue', deployedAt: 't', commands: {} }
    const text = JSON.stringify({
      schema: 1,
      liveSlot: 'blue',
      slots: { blue: null, green: null },
      history: [entry],
    })
    expect(() => parseState(text, '/s/state.json')).toThrow(
      /corrupt: history\.0\.commands\.start: /,
    )
  })
})
