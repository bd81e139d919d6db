/** process-manager systemd: the unit, the run script and the commands, as data (and the script run). */
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { preflightProblems } from '../../src/dry-run/host-checks.js'
import {
  renderRunScript,
  renderUnit,
  systemdSlots,
  type SystemdOptions,
} from '../../src/remote/commands/systemd.js'
import { layout } from '../../src/remote/layout.js'
import { parseProbe } from '../../src/remote/probe.js'
import { quote } from '../../src/remote/shell.js'
import { tempDir } from '../../test/tmp.js'
import { testSettings } from '../../test/settings.js'

const l = layout('/srv/shop')
const hostile = `x'; touch /tmp/pwned; echo '$(id)`
const quotedHostile = `'x'\\''; touch /tmp/pwned; echo '\\''$(id)'`
const options: SystemdOptions = {
  app: 'shop',
  user: 'root',
  sudo: false,
  stopCommand: '',
  stopTimeoutSeconds: 10,
}
const env = {
  PORT: '3002',
  SLOT: 'green' as const,
  APP_VERSION: 'v2',
  RELEASE_DIR: '/srv/shop/releases/v2',
  DEPLOY_PATH: '/srv/shop',
  RELEASE_NODE: 'shop_green',
}

/** The positional arguments after `sh -c '<script>' sh`. */
const argsOf = (text: string) => text.slice(text.lastIndexOf("' sh ") + 5)

describe('renderUnit', () => {
  it('renders the template unit, running as root', () => {
    expect(renderUnit(l, options))
      .toBe(`# Written by ssh-zero-downtime-deploy; a deploy rewrites it when it differs.
[Unit]
Description=shop %i slot (ssh-zero-downtime-deploy)
After=network.target

[Service]
# exec: \`systemctl start\` fails when the script cannot be run at all.
Type=exec
ExecStart=/bin/sh "/srv/shop/.deploy/run-%i.sh" start
ExecStop=/bin/sh "/srv/shop/.deploy/run-%i.sh" stop
SyslogIdentifier=shop-%i
# control-group: after ExecStop (stop-command, if any), SIGTERM goes to every process of the
# slot at once, as the built-in manager sends it to the slot's process group; whatever still
# runs TimeoutStopSec (stop-timeout) after the stop began gets SIGKILL.
KillMode=control-group
TimeoutStopSec=10
# on-failure: a crash after the deploy is restarted by systemd. While a deploy waits for the
# new slot to become healthy, any restart counts as a failed boot, so a broken release still
# fails at once with the journal's last lines.
Restart=on-failure
RestartSec=1

[Install]
WantedBy=multi-user.target
`)
  })

  it('runs the app as the login user, and escapes the deploy path for systemd', () => {
    const unit = renderUnit(layout('/srv/a%b$c"d\\e'), { ...options, user: 'deploy' })
    expect(unit).toContain(
      'Type=exec\nUser=deploy\nExecStart=/bin/sh "/srv/a%%b$$c\\"d\\\\e/.deploy/run-%i.sh" start\n',
    )
  })
})

describe('renderRunScript', () => {
  it('exports the slot variables quoted, and execs start-command from the release dir', () => {
    const script = renderRunScript(l, 'shop', 'green', hostile, '', {
      ...env,
      APP_VERSION: hostile,
    })
    expect(script).toBe(`#!/bin/sh
# The green slot of shop (systemd unit shop@green). Written by ssh-zero-downtime-deploy
# at every start; do not edit.
# shellcheck source=/dev/null # shared/.env: the app's variables
if [ -f /srv/shop/shared/.env ]; then set -a; . /srv/shop/shared/.env; set +a; fi
export PORT=3002
export SLOT=green
export APP_VERSION=${quotedHostile}
export RELEASE_DIR=/srv/shop/releases/v2
export DEPLOY_PATH=/srv/shop
export RELEASE_NODE=shop_green
case "$1" in
  start)
    cd /srv/shop/releases/v2 || exit 1
    exec sh -c ${quotedHostile}
    ;;
  stop)
    : # no stop-command: systemd sends SIGTERM
    ;;
esac
`)
  })

  it('gives start-command hostile values literally, shared/.env first, slot variables winning', () => {
    const root = tempDir('run-script')
    const local = layout(root)
    execFileSync('mkdir', ['-p', `${root}/shared`, `${root}/releases/v2`])
    writeFileSync(local.sharedEnv, `GREETING=${"'it'\\''s $(id)'"}\nPORT=1\n`)
    const slotEnv = { ...env, APP_VERSION: hostile, RELEASE_DIR: `${root}/releases/v2` }
    const start = 'printf "%s|%s|%s|%s" "$GREETING" "$PORT" "$APP_VERSION" "$(pwd)"'
    const stop = 'echo "stopping $SLOT"'
    const path = join(root, 'run.sh')
    writeFileSync(path, renderRunScript(local, 'shop', 'green', start, stop, slotEnv))
    expect(execFileSync('sh', [path, 'start'], { encoding: 'utf8' })).toBe(
      `it's $(id)|3002|${hostile}|${root}/releases/v2`,
    )
    // MAINPID is unset outside systemd: the wait for the app to exit ends at once.
    expect(execFileSync('sh', [path, 'stop'], { encoding: 'utf8' })).toBe('stopping green\n')
  })
})

describe('systemdSlots', () => {
  it('starts: template unit and run script as arguments, systemctl enable --now, MainPID', () => {
    const text = systemdSlots(l, options).start('green', 'node server.js', env).text
    expect(text).toContain('systemctl disable --now --quiet "$unit" || exit 1')
    expect(text).toContain('systemctl enable --now --quiet "$unit" || exit 1')
    expect(text).toContain('install -m 0644 "$staged" "$unitfile" || exit 1')
    expect(text).not.toContain('sudo')
    expect(
      argsOf(text).startsWith(
        '/srv/shop/.deploy/green.pid 10 shop@green /etc/systemd/system/shop@.service /srv/shop/.deploy/shop@.service ',
      ),
    ).toBe(true)
    expect(
      argsOf(text).includes(
        ` /srv/shop/.deploy/run-green.sh ${quote(renderRunScript(l, 'shop', 'green', 'node server.js', '', env).trimEnd())} `,
      ),
    ).toBe(true)
    // The port is freed by free_port's rule before the unit starts; the blue unit is the live one.
    // The arguments before free_port's are shifted away.
    expect(text).toContain('\nshift 8\nstop_slot "$pidfile" "$timeout" "" || exit 1\n')
    expect(text).toContain('[ $# -eq 0 ] || free_port "$@" || exit 8\n')
    expect(
      argsOf(text).endsWith(
        ` 3002 stop 'unit_pids shop@green' 'unit_pids shop@blue' /srv/shop shop green systemctl 10`,
      ),
    ).toBe(true)
  })

  it('goes through sudo -n for what needs root, when asked', () => {
    const slots = systemdSlots(l, { ...options, sudo: true, user: 'deploy' })
    const start = slots.start('blue', 'node server.js', env).text
    expect(start).toContain('sudo -n install -m 0644 "$staged" "$unitfile" || exit 1')
    expect(start).toContain('sudo -n systemctl daemon-reload || exit 1')
    expect(start).toContain('sudo -n systemctl enable --now --quiet "$unit" || exit 1')
    // Reading the unit needs no privilege.
    expect(start).toContain('\nsystemctl show --property MainPID --value "$unit"')
    const stop = slots.stop('blue', '', env).text
    expect(stop).toContain('sudo -n systemctl disable --now --quiet "$unit"')
    expect(argsOf(stop)).toBe(
      '/srv/shop/.deploy/blue.pid 10 shop@blue /etc/systemd/system/shop@.service',
    )
  })

  it('puts the stop-command into the run script', () => {
    const slots = systemdSlots(l, { ...options, stopCommand: hostile })
    expect(argsOf(slots.start('green', 'node server.js', env).text)).toContain(
      `    sh -c ${quotedHostile.replaceAll("'", `'\\''`)} || { echo `,
    )
  })

  it('checks, reloads and names logs by unit', () => {
    const slots = systemdSlots(l, options)
    expect(argsOf(slots.checkAlive('green', true).text)).toBe('shop@green 30 yes')
    expect(argsOf(slots.checkAlive('green').text)).toBe('shop@green 30 no')
    expect(argsOf(slots.reload('blue', hostile, env).text)).toBe(
      `'unit_pids shop@blue' /srv/shop/shared/.env ${quotedHostile} PORT=3002 SLOT=green APP_VERSION=v2 RELEASE_DIR=/srv/shop/releases/v2 DEPLOY_PATH=/srv/shop RELEASE_NODE=shop_green`,
    )
    expect(slots.logName('blue')).toBe('the journal (journalctl -u shop@blue)')
  })
})

describe('host checks for systemd', () => {
  const settingsWith = (extra: Record<string, string>) =>
    testSettings({
      hosts: 'web1',
      'known-hosts': 'web1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample',
      'process-manager': 'systemd',
      ...extra,
    })
  const facts = (lines: string) =>
    parseProbe(`existing=/srv\nwritable=yes\n${lines}--- port blue\n--- port green\n`)
  const nginxTest = { command: 'nginx -t', exitCode: 0, stderr: '' }
  const problems = (extra: Record<string, string>, lines: string) =>
    preflightProblems(settingsWith(extra), 'deploy', facts(lines), 'blue', { nginxTest })

  it('probes for systemd and the uid', () => {
    expect(facts('uid=1000\nsystemd=yes\n')).toMatchObject({ uid: 1000, systemd: true })
    expect(facts('uid=0\n')).toMatchObject({ uid: 0, systemd: false })
  })

  it('needs systemd running, and root or sudo', () => {
    expect(problems({}, 'uid=0\n')).toEqual([
      'process-manager is systemd, but systemd is not running on this host (no /run/systemd/system); use process-manager: builtin.',
    ])
    expect(problems({}, 'uid=1000\nsystemd=yes\n')).toEqual([
      'process-manager systemd needs root or sudo: true: deploy cannot install /etc/systemd/system/shop@.service or run systemctl enable/disable (see README "process-manager: systemd").',
    ])
    expect(problems({}, 'uid=0\nsystemd=yes\n')).toEqual([])
    expect(problems({ sudo: 'true' }, 'uid=1000\nsystemd=yes\n')).toEqual([])
    expect(problems({ 'process-manager': 'builtin' }, 'uid=1000\n')).toEqual([])
  })
})
