/**
 * The one-round-trip phase scripts (issue 15): their exact arguments and text, that sh parses
 * them, and the parsers the runner reads their reports with. Run against a host:
 * __tests__/integration/round-trip-blocks.test.ts.
 */
import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { RemoteCommandError } from '../../src/common/errors.js'
import { finishHost, parseFinish } from '../../src/remote/commands/finish.js'
import {
  healthLoop,
  healthLoopFailure,
  healthLoopProgress,
  parseHealthLoop,
} from '../../src/remote/commands/health-loop.js'
import { parseHttpClient } from '../../src/remote/commands/http.js'
import { TAKE_LOCK, holdLock } from '../../src/remote/commands/lock.js'
import { parsePrepared, prepareHost } from '../../src/remote/commands/prepare.js'
import { incomingArchive, shipRelease } from '../../src/remote/commands/ship.js'
import { builtinSlots } from '../../src/remote/commands/slot.js'
import { parseSwitch, switchUpstream } from '../../src/remote/commands/switch.js'
import { layout } from '../../src/remote/layout.js'
import { writeEnvFile } from '../../src/remote/commands/files.js'
import { installRelease } from '../../src/remote/commands/release.js'
import { cmd, type Shell } from '../../src/remote/shell.js'
import { holdCommand } from '../../src/ssh/held-exec.js'
import { FakeHost } from '../../test/fake-host.js'

const l = layout('/srv/shop')
const slots = builtinSlots(l, { app: 'shop', sudo: false, stopTimeoutSeconds: 10 })
const hostile = `x'; touch /tmp/pwned; echo '$(id)`
const quotedHostile = `'x'\\''; touch /tmp/pwned; echo '\\''$(id)'`
const sha = 'b'.repeat(64)

/** The script text of `sh -c '<script>' sh args...` (unquoted) and its positional arguments. */
function parts(shell: Shell | string): { body: string; args: string } {
  const text = typeof shell === 'string' ? shell : shell.text
  const end = text.indexOf("' sh ")
  return {
    body: text.slice("sh -c '".length, end).replaceAll(`'\\''`, "'"),
    args: text.slice(end + 5),
  }
}

/** sh (dash here) parses the command line and its script without running them. */
function parses(shell: Shell | string): void {
  const text = typeof shell === 'string' ? shell : shell.text
  execFileSync('sh', ['-n', '-c', text])
  execFileSync('sh', ['-n', '-c', parts(text).body])
}

describe('ship', () => {
  const archive = incomingArchive(l, 'v2', sha)
  const receive = (bytes: string) => `sh -c 'archive=$1; sum=$2; bytes=$3
mkdir -p "\${archive%/*}" || exit 1
if [ -n "$bytes" ]; then (umask 077 && head -c "$bytes" > "$archive"); else (umask 077 && cat > "$archive"); fi || { rm -f "$archive"; exit 1; }
found=$(sha256sum "$archive" | cut -d'\\'' '\\'' -f1)
if [ "$found" != "$sum" ]; then
  echo "checksum mismatch after upload of $archive: expected $sum, host has $found ($(wc -c < "$archive") bytes arrived); nothing was extracted" >&2
  rm -f "$archive"
  exit 4
fi
echo RECEIVED' sh ${archive} ${sha} ${bytes}`
  it('streams into one command: write, check the sha256, then installRelease', () => {
    expect(archive).toBe(`/srv/shop/.deploy/incoming/v2.${'b'.repeat(12)}.tar.gz`)
    const ship = shipRelease(l, 'v2', sha)
    expect(ship.text).toBe(
      `{ ${receive("''")}; } && { ${installRelease(l, 'v2', archive, sha).text}; }`,
    )
    expect(parts(installRelease(l, 'v2', archive, sha)).args).toBe(
      `/srv/shop/releases/v2 ${archive} ${sha} .release-sha256 '' v2 REVISION /srv/shop/.deploy/assets`,
    )
    expect(shipRelease(l, 'v2', sha, 'a'.repeat(64)).text).toContain(
      `.release-sha256 ${'a'.repeat(64)} v2 REVISION /srv/shop/.deploy/assets; }`,
    )
    execFileSync('sh', ['-n', '-c', ship.text])
    parses(receive("''"))
  })

  it('with shared/.env: the archive is exactly its bytes of stdin, the env file the rest', () => {
    const ship = shipRelease(l, 'v2', sha, '', { archiveBytes: 1234, keep: 5, token: 't' })
    // RECEIVED and INSTALLED say how far it got: a failure names the upload, extract or env part.
    expect(ship.text).toBe(
      `{ ${receive('1234')}; } && { ${installRelease(l, 'v2', archive, sha).text}; } && { echo INSTALLED; } && { ${writeEnvFile(l, 'v2', 5, 't').text}; }`,
    )
    execFileSync('sh', ['-n', '-c', ship.text])
  })
})

describe('prepare', () => {
  const spec = {
    layout: l,
    waitSeconds: 300,
    holder: hostile,
    version: 'v2',
    files: [l.state, '/etc/nginx/conf.d/shop.upstream.conf'],
    extras: [slots.restarts('blue'), cmd('echo', hostile)],
  }

  it('takes the lock, cleans and creates the layout, then prints the fields and holds', () => {
    const prepare = prepareHost(spec)
    const { body, args } = parts(prepare)
    expect(args).toBe(
      [
        '/srv/shop/.deploy/lock 300',
        quotedHostile,
        '/srv/shop/.deploy/incoming /srv/shop/releases /srv/shop/releases/v2 .release-sha256',
        '/srv/shop /srv/shop/logs 2 /srv/shop/.deploy/state.json',
        '/etc/nginx/conf.d/shop.upstream.conf',
        // each extra is one argument: its whole command line, run by sh -c on the host
        `'${slots.restarts('blue').text.replaceAll("'", `'\\''`)}'`,
        `'echo ${quotedHostile.replaceAll("'", `'\\''`)}'`,
      ].join(' '),
    )
    // The lock part is holdLock's; then the layout is cleaned and made; it holds until stdin closes.
    expect(body).toContain(TAKE_LOCK)
    expect(TAKE_LOCK).toContain(`exec 9>>"$1" || exit 1
  if ! flock -n 9; then
    printf '%s %s\\n' "WAITING" "$(cat "$1")"
    if ! flock -w "$2" 9; then
      printf 'held by: %s\\n' "$(cat "$1")" >&2
      exit 75
    fi
  fi
  printf '%s\\n' "$3" > "$1"
  echo LOCKED
}`)
    expect(parts(holdLock(l, 300, 'me')).body).toContain(TAKE_LOCK)
    expect(body).toContain(`take_lock "$lock" "$wait" "$holder"
rm -rf -- "$incoming" "$releases"/.*.tmp.* || exit 1
mkdir -p "$releases" "$root/shared" "$logs" "$incoming" || exit 1
if [ -n "$release" ] && [ -d "$release" ]; then cat "$release/$sums" 2>/dev/null || echo unknown; fi`)
    expect(
      body.endsWith(`printf 'READY\\0'
cat > /dev/null`),
    ).toBe(true)
    expect(parts(prepareHost({ ...spec, version: '', files: [], extras: [] })).args).toBe(
      `/srv/shop/.deploy/lock 300 ${quotedHostile} /srv/shop/.deploy/incoming /srv/shop/releases '' .release-sha256 /srv/shop /srv/shop/logs 0`,
    )
    parses(prepare)
  })

  it('parses the fields once READY arrived, and not before', () => {
    const full =
      'WAITING run 1\nLOCKED\n' +
      [
        'unknown\n',
        'v1\n.v2.tmp.9\nv0\n',
        'curl\n',
        '{"a":1}\n',
        '',
        '2 x y\n',
        '0',
        '',
        '1',
        'READY',
        '',
      ].join('\0')
    expect(parsePrepared(full, 2, 2)).toEqual({
      existing: 'unknown',
      releases: ['v1', 'v0'],
      httpClient: 'curl',
      files: ['{"a":1}\n', ''],
      extras: [
        { stdout: '2 x y\n', exitCode: 0 },
        { stdout: '', exitCode: 1 },
      ],
    })
    expect(parsePrepared(full.slice(0, full.indexOf('READY') + 3), 2, 2)).toBeUndefined()
    expect(parsePrepared('WAITING run 1\n', 0, 0)).toBeUndefined()
    // A file that says READY is a file, not the end.
    expect(parsePrepared('LOCKED\n\0\0none\0READY\0', 1, 0)).toBeUndefined()
    expect(parseHttpClient('wget\n')).toBe('wget')
    expect(parseHttpClient('')).toBe('none')
  })
})

describe('health loop', () => {
  const spec = {
    port: 3002,
    path: '/health',
    versionPath: '/version',
    version: 'v2',
    timeoutMs: 30_000,
    intervalMs: 1000,
    alive: slots.checkAlive('green', true),
    members: slots.members('green'),
  }

  it('passes the check, the schedule and the slot check as arguments', () => {
    const loop = healthLoop(spec)
    const alive = slots.checkAlive('green', true).text.replaceAll("'", `'\\''`)
    const members = "'slot_pids /srv/shop/.deploy/green.pid'"
    expect(parts(loop).args).toBe(
      `3002 /health /version v2 30000 1000 auto '${alive}' 5000 ${members}`,
    )
    expect(
      parts(healthLoop({ ...spec, versionPath: '', timeoutMs: 2000, client: 'wget' })).args,
    ).toBe(`3002 /health '' v2 2000 1000 wget '${alive}' 2000 ${members}`)
    const { body } = parts(loop)
    expect(body).toContain(`  out=$(eval "$alive" 2>&1)
  if [ $? -eq 3 ]; then
    echo "RESULT exited $attempt"`)
    expect(body).toContain(`  if [ $((now - start + wait)) -gt "$timeout" ]; then
    echo "RESULT timeout $attempt"
    echo "LAST $last"
    exit 4
  fi`)
    expect(body).toContain('wait=$((wait * 2)); [ "$wait" -le "$interval" ] || wait=$interval')
    expect(body).toContain(`if [ "$client" = none ]; then echo "RESULT no-client 0"; exit 5; fi`)
    parses(loop)
  })

  it('reads the report and words a failure as the runner loop does', () => {
    const timeout = parseHealthLoop(
      'waiting 7 GET /health answered 503\nRESULT timeout 12\nLAST GET /health answered 503\n',
    )
    expect(timeout).toEqual({
      outcome: 'timeout',
      attempts: 12,
      last: 'GET /health answered 503',
      logTail: '',
    })
    const where = {
      slot: 'green',
      port: 3002,
      timeoutMs: 30_000,
      logName: '/srv/shop/logs/green.log',
    }
    expect(healthLoopFailure(timeout, where, 4, '')).toBe(
      'green slot (port 3002) not healthy within health-timeout (30s); last check: GET /health answered 503',
    )
    const exited = parseHealthLoop(
      'RESULT exited 3\nLAST GET /health: connection refused\nboot 1\nfatal: no db\n',
    )
    expect(exited).toEqual({
      outcome: 'exited',
      attempts: 3,
      last: 'GET /health: connection refused',
      logTail: 'boot 1\nfatal: no db',
    })
    expect(healthLoopFailure(exited, where, 3, '')).toBe(
      'the new version exited while booting on green (port 3002); last lines of /srv/shop/logs/green.log:\nboot 1\nfatal: no db',
    )
    expect(healthLoopFailure(parseHealthLoop('RESULT healthy 1\n'), where, 0, '')).toBeUndefined()
    expect(healthLoopFailure(parseHealthLoop('RESULT no-client 0\n'), where, 5, '')).toBeUndefined()
    expect(healthLoopFailure(parseHealthLoop(''), where, null, 'gone\n')).toBe(
      'the health check on the host failed (exit none: cut off): gone',
    )
    expect(healthLoopProgress('waiting 4 GET /health answered 503')).toEqual({
      attempt: 4,
      last: 'GET /health answered 503',
    })
    expect(healthLoopProgress('RESULT healthy 4')).toBeUndefined()
  })
})

describe('switch', () => {
  const nginx = { test: 'nginx -t', reload: 'nginx -s reload', sudo: true }
  const spec = {
    stage: 'all' as const,
    file: '/etc/nginx/conf.d/shop.upstream.conf',
    backup: l.upstreamBackup,
    backupMode: 'take' as const,
    nginx,
    verify: {
      port: 8099,
      path: '/health',
      expected: ['127.0.0.1:3002'],
      timeoutMs: 0,
      header: 'x-deploy-upstream',
    },
  }

  it('runs the nginx commands as today (sudo -n, fixed words) and takes its data as arguments', () => {
    const alive = slots.checkAlive('green')
    const sw = switchUpstream({
      ...spec,
      recheck: {
        alive,
        members: slots.members('green'),
        port: 3002,
        path: '/health',
        versionPath: '/version',
        version: 'v2',
      },
      record: { layout: l, version: 'v2', stateJson: `{"v":"${hostile}"}\n` },
      content: `upstream shop { server 127.0.0.1:3002; } # ${hostile}\n`,
    })
    const q = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`
    expect(parts(sw).args).toBe(
      [
        'all /etc/nginx/conf.d/shop.upstream.conf /srv/shop/.deploy/upstream.bak take sudo',
        q('sudo -n nginx -t'),
        q('sudo -n nginx -s reload'),
        q(alive.text),
        "3002 /health /version v2 8099 /health 127.0.0.1:3002 10000 '[Xx]-[Dd][Ee][Pp][Ll][Oo][Yy]-[Uu][Pp][Ss][Tt][Rr][Ee][Aa][Mm]' auto",
        '/srv/shop/.deploy/state.json',
        q(`{"v":"${hostile}"}\n`),
        '/srv/shop/current releases/v2',
        q(`upstream shop { server 127.0.0.1:3002; } # ${hostile}\n`),
        q('slot_pids /srv/shop/.deploy/green.pid'),
        "''",
      ].join(' '),
    )
    const { body } = parts(sw)
    // The only command through sudo besides the user's: tee over the upstream file.
    expect(body.match(/sudo -n [^"]*/g)).toEqual(['sudo -n tee '])
    // The restore is restoreUpstream's, then a reload when the new file may have gone live.
    expect(body).toContain(`    if { if [ -f "$backup" ]; then put < "$backup"
         elif [ -e "$file" ] && ! rm -f "$file" 2>/dev/null; then put < /dev/null
         fi; } 2> "$http_tmp/rerr"; then
      echo RESTORED
      if [ "$reloaded" = yes ]; then
        if (eval "$reloadcmd") > "$http_tmp/rerr" 2>&1; then echo RELOADED`)
    // The backup is taken before anything is restored from it.
    expect(body.indexOf('cp -p "$file" "$backup"')).toBeLessThan(body.indexOf('  installed=yes'))
    // reloaded is set before the reload runs: a reload that fails half-way is reloaded back.
    expect(body).toContain(`  reloaded=yes
  run reload "$reloadcmd"`)
    // The nginx commands' own output is the failure's detail, with their exit status: nothing
    // they print passes for the report.
    expect(body).toContain(
      `(eval "$2") > "$http_tmp/err" 2>&1 || fail "$1" $? "$(tail -n 20 "$http_tmp/err")"`,
    )
    parses(sw)
  })

  it('without recheck or record, their arguments are empty; stages install and activate', () => {
    const install = switchUpstream({
      ...spec,
      stage: 'install',
      backupMode: 'keep',
      client: 'none',
    })
    expect(parts(install).args).toBe(
      "install /etc/nginx/conf.d/shop.upstream.conf /srv/shop/.deploy/upstream.bak keep sudo 'sudo -n nginx -t' 'sudo -n nginx -s reload' '' 0 '' '' '' 8099 /health 127.0.0.1:3002 10000 '[Xx]-[Dd][Ee][Pp][Ll][Oo][Yy]-[Uu][Pp][Ss][Tt][Rr][Ee][Aa][Mm]' none '' '' '' '' '' '' ''",
    )
    expect(parts(switchUpstream({ ...spec, stage: 'activate' })).args).toMatch(/^activate /)
    parses(install)
  })

  it('reads which step failed and what was undone', () => {
    expect(parseSwitch('CLIENT curl\nSTEP install\nSTEP test\nFAILED test 1\nRESTORED\n')).toEqual({
      ok: false,
      steps: ['install', 'test'],
      failedStep: 'test',
      failedExit: 1,
      restored: true,
      reloaded: false,
      verifySkipped: false,
      client: 'curl',
      noClient: false,
    })
    // A check that failed has no exit status; a recheck without an HTTP client touched nothing.
    expect(parseSwitch('STEP verify\nFAILED verify -\nRESTORED\nRELOADED\n')).toMatchObject({
      failedStep: 'verify',
      reloaded: true,
    })
    expect(parseSwitch('STEP verify\nFAILED verify -\n').failedExit).toBeUndefined()
    expect(parseSwitch('CLIENT none\nNO-CLIENT\n')).toMatchObject({
      ok: false,
      steps: [],
      client: 'none',
      noClient: true,
    })
    expect(parseSwitch('STEP reload\nSTEP verify\nSKIPPED verify\nOK\n')).toMatchObject({
      ok: true,
      verifySkipped: true,
    })
  })
})

describe('finish', () => {
  it('drains the old port (hex, checks of 50 ms), stops, writes state, prunes', () => {
    const stop = slots.stop('blue', '', {
      PORT: '3001',
      SLOT: 'blue',
      APP_VERSION: 'v1',
      RELEASE_DIR: l.release('v1'),
      DEPLOY_PATH: l.root,
      RELEASE_NODE: 'shop_blue',
    })
    const finish = finishHost({
      layout: l,
      old: { port: 3001, drainTimeoutMs: 30_000, quietChecks: 4, stop },
      stateJson: '{"s":1}\n',
      prune: ['v0', hostile],
    })
    expect(parts(finish).args).toBe(
      `3001 600 4 '${stop.text.replaceAll("'", `'\\''`)}' /srv/shop/.deploy/state.json '{"s":1}
' '' '' /srv/shop/releases/v0 '/srv/shop/releases/${hostile.replaceAll("'", `'\\''`)}'`,
    )
    const { body } = parts(finish)
    expect(body).toContain(`if [ -n "$stopcmd" ]; then
  echo "STEP stop"
  (eval "$stopcmd") >&2 || fail stop
fi`)
    expect(body).toContain('  rm -rf -- "$@" || fail prune')
    expect(parts(finishHost({ layout: l, prune: [] })).args).toBe("'' 0 1 '' - '' '' ''")
    expect(
      parts(
        finishHost({
          layout: l,
          old: { port: 3001, drainTimeoutMs: 0, quietChecks: 1, stop },
          prune: [],
        }),
      ).args,
    ).toMatch(/^3001 0 1 /)
    parses(finish)
  })

  it('reads the drain outcome and the failed step', () => {
    expect(parseFinish('open 3\nDRAIN timeout 2\nSTEP stop\nSTEP state\nOK\n')).toEqual({
      ok: true,
      drain: 'timeout',
      openAtTimeout: 2,
      steps: ['stop', 'state'],
    })
    expect(parseFinish('DRAIN idle\nSTEP stop\nFAILED stop\n')).toMatchObject({
      ok: false,
      failedStep: 'stop',
      drain: 'idle',
    })
  })
})

describe('holdCommand', () => {
  it('resolves once the output is ready and frees the command on release', async () => {
    const host = new FakeHost('web1', [{ match: 'prepare', stdout: 'LOCKED\n\0\0curl\0READY\0' }])
    const held = await holdCommand(host, cmd('true'), 'prepare', (out) => parsePrepared(out, 0, 0))
    expect(held.value).toEqual({
      existing: '',
      releases: [],
      httpClient: 'curl',
      files: [],
      extras: [],
    })
    await held.release()
  })

  it('rejects with the exit code and stderr when the command ends before', async () => {
    const host = new FakeHost('web1', [
      { match: 'prepare', exitCode: 75, stderr: 'held by: run 1\n' },
    ])
    const error = await holdCommand(host, cmd('true'), 'prepare', (out) =>
      parsePrepared(out, 0, 0),
    ).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RemoteCommandError)
    expect((error as Error).message).toBe('[web1] prepare: command exited 75:\nheld by: run 1')
  })
})
