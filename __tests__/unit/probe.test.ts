import { describe, expect, it } from 'vitest'
import { builtinMembers, unitMembers } from '../../src/remote/commands/processes.js'
import { layout } from '../../src/remote/layout.js'
import { parseProbe, probeCommand } from '../../src/remote/probe.js'
import { quote } from '../../src/remote/shell.js'

describe('probeCommand', () => {
  it('passes the deploy path, the files it reads and each slot as arguments, not inside the script', () => {
    const l = layout("/srv/x'; touch /tmp/pwned; '")
    const members = { blue: unitMembers('shop@blue'), green: builtinMembers(l.pidfile('green')) }
    const text = probeCommand(l, { app: 'shop', ports: { blue: 3001, green: 3002 }, members }).text
    expect(text).toContain(
      '\ndeploy=$1; app=$2; state=$3; blue_port=$4; green_port=$5; blue=$6; green=$7\n',
    )
    expect(text).toContain(
      'free_port "$blue_port" check "$blue" "$green" "$deploy" "$app" blue "" 0\n',
    )
    const args = [l.root, 'shop', l.state, '3001', '3002', members.blue.text, members.green.text]
    expect(text.endsWith(` sh ${args.map(quote).join(' ')}`)).toBe(true)
  })
})

describe('parseProbe', () => {
  const output = [
    'missing=flock',
    'missing=nginx',
    'existing=/srv',
    'writable=yes',
    '--- port blue',
    'PORT stranger 3001 pid 12 (python3 -m http.server 3001)',
    '--- port green',
    'PORT own 3002 pid 4242 (node server.js)',
    'PORT leftover 3002 pid 4243 (node server.js)',
    '--- state',
    '{"liveSlot":"green"}',
    '',
  ].join('\n')

  it('reads tools, path, who listens on each slot port, and state', () => {
    expect(parseProbe(output)).toEqual({
      missingTools: ['flock', 'nginx'],
      existingPath: '/srv',
      writable: true,
      portUsers: {
        blue: [{ kind: 'stranger', port: 3001, who: 'pid 12 (python3 -m http.server 3001)' }],
        green: [
          { kind: 'own', port: 3002, who: 'pid 4242 (node server.js)' },
          { kind: 'leftover', port: 3002, who: 'pid 4243 (node server.js)' },
        ],
      },
      systemd: false,
      uid: undefined,
      stateJson: '{"liveSlot":"green"}\n',
    })
  })

  it('has no state when the section is absent', () => {
    const facts = parseProbe('existing=/\nwritable=no\n--- port blue\n--- port green\n')
    expect(facts.stateJson).toBeUndefined()
    expect(facts.portUsers).toEqual({ blue: [], green: [] })
  })
})
