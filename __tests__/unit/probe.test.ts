import { describe, expect, it } from 'vitest'
import { layout } from '../../src/remote/layout.js'
import { parseProbe, probeCommand } from '../../src/remote/probe.js'

describe('probeCommand', () => {
  it('passes the deploy path as $1 and the files it reads from the layout, not inside the script', () => {
    const text = probeCommand(layout("/srv/x'; touch /tmp/pwned; '")).text
    expect(
      text.startsWith("sh -c '\ndeploy=$1; app=$2; blue_pidfile=$3; green_pidfile=$4; state=$5\n"),
    ).toBe(true)
    const root = `'/srv/x'\\''; touch /tmp/pwned; '\\'''`
    const meta = `'/srv/x'\\''; touch /tmp/pwned; '\\''/.deploy`
    expect(
      text.endsWith(` sh ${root} '' ${meta}/blue.pid' ${meta}/green.pid' ${meta}/state.json'`),
    ).toBe(true)
  })
})

describe('parseProbe', () => {
  const output = [
    'missing=flock',
    'missing=nginx',
    'existing=/srv',
    'writable=yes',
    'pid.green=4242',
    '--- tcp',
    '  sl  local_address rem_address   st tx_queue rx_queue',
    '   0: 0100007F:0BB9 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1',
    '   1: 0100007F:0BBA 0100007F:D431 01 00000000:00000000 00:00000000 00000000 0 0 2',
    '   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 0',
    '--- state',
    '{"liveSlot":"green"}',
    '',
  ].join('\n')

  it('reads tools, path, pids, listening ports and state', () => {
    const facts = parseProbe(output)
    expect(facts).toEqual({
      missingTools: ['flock', 'nginx'],
      existingPath: '/srv',
      writable: true,
      slotPids: { green: 4242 },
      listeningPorts: new Set([3001, 80]),
      systemd: false,
      uid: undefined,
      stateJson: '{"liveSlot":"green"}\n',
    })
  })

  it('has no state when the section is absent', () => {
    expect(parseProbe('existing=/\nwritable=no\n--- tcp\n').stateJson).toBeUndefined()
  })
})
