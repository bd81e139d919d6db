/** Remote commands are data: their exact text is asserted, hostile values stay quoted arguments. */
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import {
  chmodSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseDrain, quietChecks, waitForDrain } from '../../src/remote/commands/drain.js'
import {
  ENV_RESTORED,
  renderEnvFile,
  restoreEnvFile,
  switchCurrent,
  writeEnvFile,
  writeStateFile,
} from '../../src/remote/commands/files.js'
import { LOCK_ACQUIRED, holdLock, lockedRead } from '../../src/remote/commands/lock.js'
import {
  checkUpstreamWritable,
  type NginxCommands,
  reloadNginx,
  restoreUpstream,
  testNginx,
} from '../../src/remote/commands/nginx.js'
import { installRelease } from '../../src/remote/commands/release.js'
import {
  LOG_ROTATE_BYTES,
  renderSuperviseScript,
  startSlot,
  stopSlot,
} from '../../src/remote/commands/slot.js'
import { switchUpstream } from '../../src/remote/commands/switch.js'
import { layout } from '../../src/remote/layout.js'
import { tempDir } from '../../test/tmp.js'

const l = layout('/srv/shop')
const hostile = `x'; touch /tmp/pwned; echo '$(id)`
const quotedHostile = `'x'\\''; touch /tmp/pwned; echo '\\''$(id)'`

/** The positional arguments after `sh -c '<script>' sh`. */
/** The switch script's first stage alone: install and test, no recheck, no verify. */
function installOnly(
  file: string,
  backup: string,
  nginx: NginxCommands,
  backupMode: 'take' | 'keep' = 'take',
  content = '',
) {
  return switchUpstream({
    stage: 'install',
    file,
    backup,
    backupMode,
    nginx,
    client: 'none',
    content,
  })
}

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

  it('writes shared/.env with its backups dir, version, how many to keep, mode, undo record and token as arguments', () => {
    const { text } = writeEnvFile(l, hostile, 5, 'run-token')
    expect(argsOf(text)).toBe(
      `/srv/shop/shared/.env /srv/shop/.deploy/env-backups ${quotedHostile} 5 600 /srv/shop/.deploy/env.undo run-token`,
    )
    expect(text).toContain('if cmp -s "$tmp" "$env"; then exit 0; fi')
  })

  it('installs a release, or replaces one only with the checksum it was told of', () => {
    const install = (replacing?: string) =>
      argsOf(
        installRelease(l, 'v2', '/srv/shop/.deploy/incoming/v2.tgz', 'b'.repeat(64), replacing)
          .text,
      )
    expect(install()).toBe(
      `/srv/shop/releases/v2 /srv/shop/.deploy/incoming/v2.tgz ${'b'.repeat(64)} .release-sha256 '' v2 REVISION /srv/shop/.deploy/assets`,
    )
    expect(install('a'.repeat(64))).toBe(
      `/srv/shop/releases/v2 /srv/shop/.deploy/incoming/v2.tgz ${'b'.repeat(64)} .release-sha256 ${'a'.repeat(64)} v2 REVISION /srv/shop/.deploy/assets`,
    )
  })

  it('passes the lock holder as an argument', () => {
    expect(argsOf(holdLock(l, 300, hostile).text)).toBe(
      `/srv/shop/.deploy/lock 300 ${quotedHostile}`,
    )
  })

  it('with a file to read, prints it under the lock in the same command (nothing when missing)', () => {
    expect(argsOf(holdLock(l, 300, 'me', '/etc/nginx/conf.d/shop_lb.conf').text)).toBe(
      '/srv/shop/.deploy/lock 300 me /etc/nginx/conf.d/shop_lb.conf',
    )
    const root = tempDir('lock-read')
    try {
      const local = layout(root)
      const file = join(root, 'lb.conf')
      const run = () =>
        execFileSync('sh', ['-c', holdLock(local, 1, 'me', file).text], { input: '' }).toString()
      expect(lockedRead(run())).toBe('')
      writeFileSync(file, 'upstream shop_lb {\n  server 10.0.0.1:80;\n}\n')
      const out = run()
      expect(out.startsWith(`${LOCK_ACQUIRED}\n`)).toBe(true)
      expect(lockedRead(out)).toBe('upstream shop_lb {\n  server 10.0.0.1:80;\n}\n')
      // Not all of it yet: nothing.
      expect(lockedRead(out.slice(0, -3))).toBeUndefined()
      expect(readFileSync(local.lock, 'utf8')).toBe('me\n')
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })

  it('watches the slot port in hex, checking every 50 ms', () => {
    expect(argsOf(waitForDrain(3001, 30_000).text)).toBe('3001 600 4')
    expect(argsOf(waitForDrain(3001, 30_000, quietChecks(120)).text)).toBe('3001 600 2')
    expect(quietChecks(5000)).toBe(1)
  })

  it('reads how the drain ended: idle, or drain-timeout with the connections left', () => {
    expect(parseDrain(0, '')).toEqual({ idle: true, open: 0 })
    expect(parseDrain(4, 'open 12\nopen 12\n12\n')).toEqual({ idle: false, open: 12 })
    expect(parseDrain(1, '')).toBeUndefined()
    expect(parseDrain(null, '')).toBeUndefined()
  })

  it('keeps user commands as single arguments, with sudo -n when asked', () => {
    const nginx = { test: `nginx -t; ${hostile}`, reload: 'nginx -s reload', sudo: true }
    const install = installOnly('/etc/nginx/conf.d/shop.upstream.conf', l.upstreamBackup, nginx)
    const q = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`
    // The test command is one argument: `sudo -n sh -c <the line>`, the line quoted whole.
    expect(argsOf(install.text)).toBe(
      `install /etc/nginx/conf.d/shop.upstream.conf /srv/shop/.deploy/upstream.bak take sudo ${q(`sudo -n sh -c ${q(`nginx -t; ${hostile}`)}`)} 'sudo -n nginx -s reload' '' 0 '' '' '' '' '' '' 10000 '' none '' '' '' '' '' '' ''`,
    )
  })

  it('runs the default nginx commands as fixed binaries with fixed arguments (README sudoers)', () => {
    const nginx = { test: 'nginx -t', reload: 'nginx -s reload', sudo: true }
    const file = '/etc/nginx/conf.d/shop.upstream.conf'
    expect(testNginx(nginx).text).toBe('sudo -n nginx -t')
    expect(reloadNginx(nginx).text).toBe('sudo -n nginx -s reload')
    expect(argsOf(installOnly(file, l.upstreamBackup, nginx, 'keep').text)).toMatch(
      `install ${file} /srv/shop/.deploy/upstream.bak keep sudo 'sudo -n nginx -t' 'sudo -n nginx -s reload' `,
    )
    // The only other command through sudo: tee over the upstream file, content on stdin.
    for (const { text } of [
      installOnly(file, l.upstreamBackup, nginx),
      restoreUpstream(file, l.upstreamBackup, true),
    ]) {
      const script = text.slice(0, text.lastIndexOf("' sh "))
      expect(script.match(/sudo -n [^"]*/g)).toEqual(['sudo -n tee '])
      expect(script).toContain('sudo -n tee "$file" > /dev/null')
    }
    expect(argsOf(restoreUpstream(file, l.upstreamBackup, true).text)).toBe(
      `${file} /srv/shop/.deploy/upstream.bak sudo`,
    )
    expect(argsOf(checkUpstreamWritable(file, true).text)).toBe(`${file} sudo`)
    expect(checkUpstreamWritable(file, true).text).toContain('sudo -n -l tee "$file"')
    const root = { ...nginx, sudo: false }
    expect(reloadNginx(root).text).toBe('nginx -s reload')
    expect(argsOf(restoreUpstream(file, l.upstreamBackup).text)).toBe(
      `${file} /srv/shop/.deploy/upstream.bak no-sudo`,
    )
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
    const { text } = startSlot(l, 'green', hostile, env, {
      app: 'shop',
      sudo: false,
      stopTimeoutSeconds: 10,
    })
    expect(text).toContain(
      `sh /srv/shop/.deploy/green.pid 10 /srv/shop/logs/green.log /srv/shop/releases/v2 /srv/shop/.deploy/supervise-green.sh `,
    )
    expect(text).toContain(`/srv/shop/.deploy/boot.sh `)
    expect(text).toMatch(
      / \/srv\/shop\/\.deploy\/green\.restarts 3002 stop 'slot_pids \/srv\/shop\/\.deploy\/green\.pid' 'slot_pids \/srv\/shop\/\.deploy\/blue\.pid' \/srv\/shop shop green systemctl 10$/,
    )
    expect(text).toContain(
      'stop_slot "$pidfile" "$timeout" "" || exit 1\n[ $# -eq 0 ] || free_port "$@" || exit 8\n',
    )
    const supervise = renderSuperviseScript(l, 'green', hostile, env, 10)
    expect(supervise).toContain(
      `export PORT=3002\nexport SLOT=green\nexport APP_VERSION=v2\nexport RELEASE_DIR=/srv/shop/releases/v2\nexport DEPLOY_PATH=/srv/shop\nexport RELEASE_NODE=shop_green\n`,
    )
    expect(supervise).toContain(`  setsid sh -c ${quotedHostile} < /dev/null &\n`)
    expect(supervise).toContain(`cd /srv/shop/releases/v2 || exit 1\n`)
  })

  it('keeps a copy of the state it writes as state.json.bak', () => {
    const { text } = writeStateFile(l)
    expect(argsOf(text)).toBe('/srv/shop/.deploy/state.json 644 written')
    expect(text).toContain(`if [ "$3" = written ]; then { cp -p "$1" "$1.bak.tmp.$$"`)
  })
})

describe('slot log rotation (the start script, run by sh)', () => {
  it('moves a log past the limit to <log>.1 before starting, and keeps a smaller one', () => {
    const root = tempDir('slot-log')
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
      execFileSync('sh', [
        '-c',
        startSlot(local, 'blue', 'exec sleep 30', env, {
          app: 'shop',
          sudo: false,
          stopTimeoutSeconds: 1,
        }).text,
      ])
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

describe('the switch script installing an upstream file (run by sh)', () => {
  it('backs up the file from before the run once, and keeps that backup on later installs', () => {
    const dir = tempDir('upstream')
    const file = join(dir, 'shop.upstream.conf')
    const backup = join(dir, 'upstream.bak')
    const nginx = { test: 'true', reload: 'true', sudo: false }
    const install = (content: string, mode: 'take' | 'keep') =>
      execFileSync('sh', ['-c', installOnly(file, backup, nginx, mode, content).text])
    writeFileSync(file, 'before the run\n')
    install('canary step\n', 'take')
    install('promoted\n', 'keep')
    expect(readFileSync(file, 'utf8')).toBe('promoted\n')
    expect(readFileSync(backup, 'utf8')).toBe('before the run\n')
    expect(readdirSync(dir).sort()).toEqual(['shop.upstream.conf', 'upstream.bak'])
  })

  it('restores the backup, or removes the file when there was none before the run', () => {
    const dir = tempDir('upstream')
    const file = join(dir, 'shop.upstream.conf')
    const backup = join(dir, 'upstream.bak')
    const restore = () => execFileSync('sh', ['-c', restoreUpstream(file, backup, true).text])
    writeFileSync(backup, 'before the run\n')
    writeFileSync(file, 'new\n')
    restore()
    expect(readFileSync(file, 'utf8')).toBe('before the run\n')
    rmSync(backup)
    restore()
    expect(readdirSync(dir)).toEqual([])
    restore() // nothing to restore, nothing to remove: no error
    rmSync(dir, { recursive: true })
  })
})

describe('writeEnvFile (the script, run by sh)', () => {
  it('backs up the file it replaces under a new name each time, keeps `keep`, and leaves the same content alone', () => {
    const root = tempDir('env')
    try {
      const local = layout(root)
      mkdirSync(join(root, 'shared'))
      // The action's own dir (state, lock) exists before anything is shipped.
      mkdirSync(local.meta)
      const undo = () => readFileSync(local.envUndo, 'utf8')
      const write = (content: string, version: string, token = 'run') =>
        execFileSync('sh', ['-c', writeEnvFile(local, version, 2, token).text], { input: content })
      const backups = () =>
        readdirSync(local.envBackups)
          .sort()
          .map((name) => [
            name.replace(/^\d{8}T\d{6}Z\./, ''),
            readFileSync(join(local.envBackups, name), 'utf8'),
          ])

      // No file yet: written, nothing to back up.
      write("A='1'\n", 'v1')
      expect(readFileSync(local.sharedEnv, 'utf8')).toBe("A='1'\n")
      expect(statSync(local.sharedEnv).mode & 0o777).toBe(0o600)
      expect(() => readdirSync(local.envBackups)).toThrow()
      // The undo record: the run's token, and that there was no file before.
      expect(undo()).toBe('run none -\n')

      // The operator's own file: kept before it is replaced, and named in the undo record.
      writeFileSync(local.sharedEnv, 'SECRET=by-hand\n')
      chmodSync(local.sharedEnv, 0o640)
      write("A='2'\n", 'v2', 'run-2')
      expect(backups()).toEqual([['v2', 'SECRET=by-hand\n']])
      expect(statSync(local.envBackups).mode & 0o777).toBe(0o700)
      const [backup] = readdirSync(local.envBackups)
      expect(undo()).toBe(`run-2 ${backup} 640\n`)
      // The backup is 600 whatever the file's mode was: the undo record keeps that.
      expect(statSync(join(local.envBackups, backup!)).mode & 0o777).toBe(0o600)

      // Same content again: nothing replaced, no new backup, the undo record left as it was.
      write("A='2'\n", 'v3', 'run-3')
      expect(backups()).toEqual([['v2', 'SECRET=by-hand\n']])
      expect(undo()).toBe(`run-2 ${backup} 640\n`)

      // A rerun of the same version in the same second does not overwrite the backup.
      write("A='3'\n", 'v2')
      write("A='4'\n", 'v2')
      expect(readFileSync(local.sharedEnv, 'utf8')).toBe("A='4'\n")
      const kept = backups().map(([, content]) => content)
      expect(kept).toHaveLength(2)
      expect(kept).toContain("A='3'\n")
      expect(readdirSync(join(root, 'shared'))).toEqual(['.env'])
      expect(readdirSync(local.meta).sort()).toEqual(['env-backups', 'env.undo'])
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })
})

describe('restoreEnvFile (the script, run by sh)', () => {
  it("puts back the file a run replaced, as it was, or none; never another run's", () => {
    const root = tempDir('env-restore')
    try {
      const local = layout(root)
      mkdirSync(join(root, 'shared'))
      mkdirSync(local.meta)
      const write = (content: string, token: string) =>
        execFileSync('sh', ['-c', writeEnvFile(local, 'v2', 5, token).text], { input: content })
      const restore = (token: string) =>
        execFileSync('sh', ['-c', restoreEnvFile(local, token).text], { encoding: 'utf8' })

      // The operator's file (mode 640) replaced by run a, then put back exactly.
      writeFileSync(local.sharedEnv, 'FEATURE=old\n', { mode: 0o640 })
      write("FEATURE='new'\n", 'a')
      expect(readFileSync(local.sharedEnv, 'utf8')).toBe("FEATURE='new'\n")
      // Another run's token (a later run, or one that did not change the file) does nothing.
      expect(restore('b')).toBe('')
      expect(readFileSync(local.sharedEnv, 'utf8')).toBe("FEATURE='new'\n")
      expect(restore('a')).toBe(`${ENV_RESTORED}\n`)
      expect(readFileSync(local.sharedEnv, 'utf8')).toBe('FEATURE=old\n')
      expect(statSync(local.sharedEnv).mode & 0o777).toBe(0o640)
      // Once done, a second restore does nothing.
      expect(restore('a')).toBe('')

      // The same content: nothing replaced, nothing to put back (the file stays).
      write('FEATURE=old\n', 'c')
      expect(restore('c')).toBe('')
      expect(readFileSync(local.sharedEnv, 'utf8')).toBe('FEATURE=old\n')

      // No file before the run: the restore removes the one it wrote.
      rmSync(local.sharedEnv)
      write("A='1'\n", 'd')
      expect(restore('d')).toBe(`${ENV_RESTORED}\n`)
      expect(readdirSync(join(root, 'shared'))).toEqual([])
      expect(readdirSync(local.meta)).toEqual(['env-backups'])
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })
})

describe('installRelease (the script, run by sh)', () => {
  it('replaces a release with the expected checksum, refuses one with another or in use, and leaves no temp dir', async () => {
    const root = tempDir('install')
    try {
      const local = layout(root)
      mkdirSync(local.releases, { recursive: true })
      const archive = (content: string) => {
        const src = join(root, `src-${content}`)
        mkdirSync(src)
        writeFileSync(join(src, 'app.txt'), content)
        const file = join(root, `${content}.tgz`)
        execFileSync('tar', ['-czf', file, '-C', src, '.'])
        return file
      }
      const install = (file: string, sum: string, replacing?: string) =>
        execFileSync('sh', ['-c', installRelease(local, 'v2', file, sum, replacing).text], {
          stdio: 'pipe',
        })
      const app = () => readFileSync(join(local.release('v2'), 'app.txt'), 'utf8')
      install(archive('first'), 'sum1')
      expect(app()).toBe('first')
      // Without `replacing`, an existing release is never overwritten.
      expect(() => install(archive('second'), 'sum2')).toThrow()
      expect(app()).toBe('first')
      // With a checksum other than the one there: refused, untouched.
      expect(() => install(archive('third'), 'sum3', 'not-sum1')).toThrow(/expected not-sum1/)
      expect(app()).toBe('first')
      // A process running from it (one a run could not stop): refused, untouched.
      const stray = spawn('sleep', ['30'], { cwd: local.release('v2'), stdio: 'ignore' })
      try {
        expect(() => install(archive('busy'), 'sum5', 'sum1')).toThrow(
          new RegExp(`process ${stray.pid} runs from ${local.release('v2')}; it was not replaced`),
        )
      } finally {
        stray.kill('SIGKILL')
        await once(stray, 'exit')
      }
      expect(app()).toBe('first')
      install(archive('fourth'), 'sum4', 'sum1')
      expect(app()).toBe('fourth')
      expect(readFileSync(join(local.release('v2'), '.release-sha256'), 'utf8')).toBe('sum4\n')
      expect(readdirSync(local.releases, { withFileTypes: true }).map((e) => e.name)).toEqual([
        'v2',
      ])
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })
})
