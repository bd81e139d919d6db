/** Remote commands are data: their exact text is asserted, hostile values stay quoted arguments. */
import { execFileSync } from 'node:child_process'
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { quietChecks, waitForDrain } from '../../src/remote/commands/drain.js'
import { renderEnvFile, switchCurrent, writeStateFile } from '../../src/remote/commands/files.js'
import { holdLock } from '../../src/remote/commands/lock.js'
import { installUpstream, reloadNginx } from '../../src/remote/commands/nginx.js'
import { prepareLayout, removeReleases } from '../../src/remote/commands/release.js'
import {
  LOG_ROTATE_BYTES,
  renderSuperviseScript,
  startSlot,
  stopSlot,
} from '../../src/remote/commands/slot.js'
import { layout } from '../../src/remote/layout.js'

const l = layout('/srv/shop')
const hostile = `x'; touch /tmp/pwned; echo '$(id)`
const quotedHostile = `'x'\\''; touch /tmp/pwned; echo '\\''$(id)'`

/** The positional arguments after `sh -c '<script>' sh`. */
function argsOf(text: string): string {
  return text.slice(text.lastIndexOf("' sh ") + 5)
}

describe('remote commands', () => {
  it('switches current with a relative symlink renamed into place', () => {
    expect(switchCurrent(l, 'v2').text).toBe(
      `sh -c 'ln -sfn "$2" "$1.tmp" && mv -T "$1.tmp" "$1"' sh /srv/shop/current releases/v2`,
    )
  })

  it('writes shared/.env lines that sh reads back literally', () => {
    expect(renderEnvFile({ A: 'plain', B: hostile, C: '' })).toBe(
      `A=plain\nB=${quotedHostile}\nC=''\n`,
    )
  })

  it('passes the lock holder as an argument', () => {
    expect(argsOf(holdLock(l, 300, hostile).text)).toBe(
      `/srv/shop/.deploy/lock 300 ${quotedHostile}`,
    )
  })

  it('watches the slot port in hex, checking every 50 ms', () => {
    expect(argsOf(waitForDrain(3001, 30_000).text)).toBe('0BB9 600 4')
    expect(argsOf(waitForDrain(3001, 30_000, quietChecks(120)).text)).toBe('0BB9 600 2')
    expect(quietChecks(5000)).toBe(1)
  })

  it('keeps user commands as single arguments, with sudo -n when asked', () => {
    const nginx = { test: `nginx -t; ${hostile}`, reload: 'nginx -s reload', sudo: true }
    expect(
      argsOf(installUpstream('/etc/nginx/conf.d/shop.upstream.conf', l.upstreamBackup, nginx).text),
    ).toBe(
      `/etc/nginx/conf.d/shop.upstream.conf /srv/shop/.deploy/upstream.bak take sudo -n sh -c 'nginx -t; x'\\''; touch /tmp/pwned; echo '\\''$(id)'`,
    )
    expect(reloadNginx(nginx).text).toBe(`sudo -n sh -c 'nginx -s reload'`)
  })

  it('starts a slot under its supervisor, the command and variables quoted in its script', () => {
    const env = {
      PORT: '3002',
      SLOT: 'green' as const,
      APP_VERSION: 'v2',
      RELEASE_DIR: '/srv/shop/releases/v2',
      DEPLOY_PATH: '/srv/shop',
      RELEASE_NODE: 'shop_green',
    }
    const { text } = startSlot(l, 'green', hostile, env, 10)
    expect(text).toContain(
      `sh /srv/shop/.deploy/green.pid 10 /srv/shop/logs/green.log /srv/shop/releases/v2 /srv/shop/.deploy/supervise-green.sh `,
    )
    expect(text).toContain(`/srv/shop/.deploy/boot.sh `)
    expect(text).toMatch(/ \/srv\/shop\/\.deploy\/green\.restarts$/)
    const supervise = renderSuperviseScript(l, 'green', hostile, env)
    expect(supervise).toContain(
      `export PORT=3002\nexport SLOT=green\nexport APP_VERSION=v2\nexport RELEASE_DIR=/srv/shop/releases/v2\nexport DEPLOY_PATH=/srv/shop\nexport RELEASE_NODE=shop_green\n`,
    )
    expect(supervise).toContain(`  setsid sh -c ${quotedHostile} < /dev/null &\n`)
    expect(supervise).toContain(`cd /srv/shop/releases/v2 || exit 1\n`)
  })

  it('removes releases by full path, after --', () => {
    expect(removeReleases(l, ['v1', 'v2']).text).toBe(
      'rm -rf -- /srv/shop/releases/v1 /srv/shop/releases/v2',
    )
  })

  it('clears what an interrupted run left before it ships', () => {
    expect(prepareLayout(l, 'v2').text).toBe(
      `{ sh -c 'rm -rf -- "$1" "$2"/.*.tmp.*' sh /srv/shop/.deploy/incoming /srv/shop/releases; } && ` +
        `{ mkdir -p /srv/shop/releases /srv/shop/shared /srv/shop/logs /srv/shop/.deploy/incoming; } && ` +
        `{ sh -c 'if [ -d "$1" ]; then cat "$1/$2" 2>/dev/null || echo unknown; fi' sh /srv/shop/releases/v2 .release-sha256; }`,
    )
  })

  it('keeps a copy of the state it writes as state.json.bak', () => {
    const { text } = writeStateFile(l)
    expect(argsOf(text)).toBe('/srv/shop/.deploy/state.json 644 written')
    expect(text).toContain(`if [ "$3" = written ]; then cp -p "$1" "$1.bak.tmp.$$"`)
  })
})

describe('slot log rotation (the start script, run by sh)', () => {
  it('moves a log past the limit to <log>.1 before starting, and keeps a smaller one', () => {
    const root = mkdtempSync(join(tmpdir(), 'slot-log-'))
    const local = layout(root)
    for (const dir of ['.deploy', 'logs', 'releases/v1'])
      mkdirSync(join(root, dir), { recursive: true })
    const env = {
      PORT: '3001',
      SLOT: 'blue' as const,
      APP_VERSION: 'v1',
      RELEASE_DIR: join(root, 'releases/v1'),
      DEPLOY_PATH: root,
      RELEASE_NODE: 'shop_blue',
    }
    const start = () =>
      execFileSync('sh', ['-c', startSlot(local, 'blue', 'exec sleep 30', env, 1).text])
    const log = local.slotLog('blue')
    writeFileSync(log, 'small\n')
    start()
    expect(statSync(log).size).toBeGreaterThan(6)
    expect(() => statSync(`${log}.1`)).toThrow()
    truncateSync(log, LOG_ROTATE_BYTES + 1)
    start()
    expect(statSync(`${log}.1`).size).toBe(LOG_ROTATE_BYTES + 1)
    expect(statSync(log).size).toBeLessThan(1000)
    execFileSync('sh', ['-c', stopSlot(local, 'blue', '', env, 1).text])
    rmSync(root, { recursive: true, force: true })
  })
})

describe('installUpstream (the script, run by sh)', () => {
  it('backs up the file from before the run once, and keeps that backup on later installs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'upstream-'))
    const file = join(dir, 'shop.upstream.conf')
    const backup = join(dir, 'upstream.bak')
    const nginx = { test: 'true', reload: 'true', sudo: false }
    const install = (content: string, mode: 'take' | 'keep') =>
      execFileSync('sh', ['-c', installUpstream(file, backup, nginx, mode).text], {
        input: content,
      })
    writeFileSync(file, 'before the run\n')
    install('canary step\n', 'take')
    install('promoted\n', 'keep')
    expect(readFileSync(file, 'utf8')).toBe('promoted\n')
    expect(readFileSync(backup, 'utf8')).toBe('before the run\n')
    expect(readdirSync(dir).sort()).toEqual(['shop.upstream.conf', 'upstream.bak'])
  })
})
