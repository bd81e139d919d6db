/**
 * The operator's files and reruns (issue 13, parts 2 and 3), end to end with the bundle:
 * a hand-placed shared/.env is never touched by a deploy without `env`; a deploy with `env` keeps
 * the file it replaces in a backup no later run overwrites; only `secret-env` values are masked;
 * a release that never went live is replaced by a rerun, one that went live never changes; a
 * deploy whose version does not go live puts the shared/.env it replaced back (issue 21), also
 * from the post step after a run killed once it had written it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorLine, runAction } from '../../test/action-runner.js'
import {
  addSite,
  deployInputs,
  hostState,
  makeRelease,
  servedVersion,
} from '../../test/deploy-fixture.js'
import { startLab, type Lab, type LabHost } from '../../test/hosts/index.js'
import { waitFor } from '../../test/wait.js'

let lab: Lab
let host: LabHost

const ENV_FILE = '/srv/shop/shared/.env'
const BACKUPS = '/srv/shop/.deploy/env-backups'

const deploy = (version: string, overrides: Record<string, string> = {}, behaviour?: object) =>
  runAction(
    deployInputs(lab, [host], makeRelease(version, behaviour as Record<string, unknown>), {
      version,
      ...overrides,
    }),
  )

async function deployed(
  version: string,
  overrides: Record<string, string> = {},
): Promise<Awaited<ReturnType<typeof deploy>>> {
  const run = await deploy(version, overrides)
  expect(errorLine(run.main.log)).toBe('')
  expect(run.main.outputs.status).toBe('deployed')
  return run
}

/** One variable of the environment of the live app (the process listening on the live port). */
async function liveAppVariable(name: string): Promise<string> {
  const state = await hostState(host)
  const live = state.liveSlot as 'blue' | 'green'
  const port = (state.slots as Record<string, { port: number }>)[live]!.port
  const { stdout } = await host.sh(
    `pid=$(ss -Hltnp 'sport = :${port}' | sed -n 's/.*pid=\\([0-9]*\\).*/\\1/p' | head -n 1)
tr '\\0' '\\n' < /proc/$pid/environ | sed -n 's/^${name}=//p'`,
  )
  return stdout.trim()
}

/** The env backups, oldest first: [the version whose deploy made it, its content]. */
async function envBackups(): Promise<[string, string][]> {
  const { stdout } = await host.sh(
    `[ ! -d ${BACKUPS} ] || for f in $(ls -1 ${BACKUPS}); do printf '%s\\n' "$f"; cat ${BACKUPS}/$f; printf '\\0'; done`,
  )
  return stdout
    .split('\0')
    .slice(0, -1)
    .map((entry) => {
      const name = entry.slice(0, entry.indexOf('\n'))
      expect(name).toMatch(/^\d{8}T\d{6}Z\.[A-Za-z0-9._+-]+$/)
      return [name.replace(/^\d{8}T\d{6}Z\./, ''), entry.slice(name.length + 1)]
    })
}

const envFile = () => host.sh(`stat -c '%a %Y' ${ENV_FILE}; cat ${ENV_FILE}`).then((r) => r.stdout)

beforeAll(async () => {
  lab = await startLab({ hosts: 1, name: 'operator-files' })
  host = lab.hosts[0]!
})

afterAll(async () => {
  await lab?.stop()
})

describe("shared/.env is the operator's unless env is set", () => {
  it('a hand-placed shared/.env survives deploys without env, and the app gets it', async () => {
    await host.sh(
      `mkdir -p /srv/shop/shared && printf '%s\\n' "OPS_SECRET='from-ops'" > ${ENV_FILE} && chmod 640 ${ENV_FILE}`,
    )
    const before = await envFile()
    await deployed('e1')
    await addSite(host, 'shop')
    await deployed('e2')
    expect(await envFile()).toBe(before)
    expect(before).toMatch(/^640 \d+\nOPS_SECRET='from-ops'\n$/)
    expect(await liveAppVariable('OPS_SECRET')).toBe('from-ops')
    expect(await envBackups()).toEqual([])
  })

  it('a deploy with env keeps the file it replaces in a backup that later deploys do not overwrite; only secret-env values are masked', async () => {
    const token = 'tok-from-a-vault-42'
    const run = await deployed('e3', {
      env: 'NODE_ENV=production\nGREETING=hello',
      'secret-env': `API_TOKEN=${token}`,
    })
    expect((await envFile()).split('\n').slice(1).join('\n')).toBe(
      `NODE_ENV=production\nGREETING=hello\nAPI_TOKEN=${token}\n`,
    )
    expect(await envBackups()).toEqual([['e3', "OPS_SECRET='from-ops'\n"]])
    expect(await liveAppVariable('GREETING')).toBe('hello')
    expect(await liveAppVariable('API_TOKEN')).toBe(token)
    expect(run.main.log).toContain(`::add-mask::${token}`)
    expect(run.main.log).not.toContain('::add-mask::production')
    expect(run.main.log).not.toContain('::add-mask::hello')

    // Another env: one more backup (of what e3 wrote); the operator's file is still kept.
    await deployed('e4', { env: 'NODE_ENV=production\nGREETING=bonjour' })
    const afterE4 = await envFile()
    expect(await envBackups()).toEqual([
      ['e3', "OPS_SECRET='from-ops'\n"],
      ['e4', `NODE_ENV=production\nGREETING=hello\nAPI_TOKEN=${token}\n`],
    ])
    // The same env again: nothing replaced, no backup; then no env: the file stays as it is.
    await deployed('e5', { env: 'NODE_ENV=production\nGREETING=bonjour' })
    await deployed('e6')
    expect(await envFile()).toBe(afterE4)
    expect(await envBackups()).toHaveLength(2)
    expect(await liveAppVariable('GREETING')).toBe('bonjour')
    const { stdout: modes } = await host.sh(`stat -c '%a' ${ENV_FILE} ${BACKUPS} ${BACKUPS}/*`)
    expect(modes).toBe('600\n700\n600\n600\n')
  })
})

describe('re-running a failed deploy', () => {
  const checksum = (version: string) =>
    host.sh(`cat /srv/shop/releases/${version}/.release-sha256`).then((r) => r.stdout.trim())

  it('replaces a release that never went live; one that did never changes', async () => {
    const failed = await deploy('r2', { 'health-timeout': '2s' }, { healthStatus: 503 })
    expect(failed.main.outputs.status).toBe('failed')
    expect(await servedVersion(host)).toBe('e6')
    const failedSum = await checksum('r2')
    const history = () =>
      hostState(host).then((s) => (s.history as { version: string }[]).map((r) => r.version))
    expect(await history()).not.toContain('r2')

    // "Re-run failed jobs" with a fixed build of the same version: deployed.
    const rerun = await deployed('r2')
    expect(rerun.main.log).toContain('ship: r2 replaced (it never went live)')
    expect(await servedVersion(host)).toBe('r2')
    expect(await checksum('r2')).not.toBe(failedSum)
    const { stdout: files } = await host.sh('ls -A /srv/shop/releases/r2; ls -A /srv/shop/releases')
    expect(files).not.toContain('behaviour.json')
    expect(files).not.toContain('.tmp.')

    // r2 is live now, e6 is in the history: other content for either is refused.
    const liveSum = await checksum('r2')
    for (const version of ['r2', 'e6']) {
      const changed = await deploy(version, {}, { healthStatus: 200 })
      expect(changed.main.exitCode).toBe(1)
      const error = errorLine(changed.main.log)
      expect(error).toContain(
        `[${host.address}] ship: release ${version} is already on the host with different content`,
      )
      expect(error).toContain('A version that went live must never change')
    }
    expect(await checksum('r2')).toBe(liveSum)
    expect(await servedVersion(host)).toBe('r2')
    expect(await history()).toEqual(['r2', 'e6', 'e5', 'e4', 'e3'])
  })

  it('never replaces a release directory the action did not install', async () => {
    await host.sh('mkdir -p /srv/shop/releases/u1 && echo by-hand > /srv/shop/releases/u1/app.txt')
    const run = await deploy('u1')
    expect(run.main.exitCode).toBe(1)
    expect(errorLine(run.main.log)).toContain(
      `[${host.address}] ship: /srv/shop/releases/u1 is already on the host but was not installed by this action (it has no checksum); nothing was changed.`,
    )
    const { stdout } = await host.sh(
      'ls -A /srv/shop/releases/u1; cat /srv/shop/releases/u1/app.txt',
    )
    expect(stdout).toBe('app.txt\nby-hand\n')
    expect(await servedVersion(host)).toBe('r2')
  })
})

describe('a failed deploy leaves shared/.env as it was', () => {
  const failing = { 'health-timeout': '2s' }

  it('FEATURE=old live, a deploy with FEATURE=new fails its health check: the file reads FEATURE=old again', async () => {
    await deployed('f1', { env: 'FEATURE=old' })
    const before = await envFile()
    const backups = await envBackups()
    const run = await deploy('f2', { ...failing, env: 'FEATURE=new' }, { healthStatus: 503 })
    expect(run.main.outputs.status).toBe('failed')
    expect(run.main.log).toContain(
      `[${host.address}] shared/.env: put back as it was before the run (f2 is not live)`,
    )
    // The same bytes, mode and modification time; the backup of it stays, for the record.
    expect(await envFile()).toBe(before)
    expect(before).toMatch(/^600 \d+\nFEATURE=old\n$/)
    expect(await envBackups()).toEqual([...backups, ['f2', 'FEATURE=old\n']])
    expect(await liveAppVariable('FEATURE')).toBe('old')
    expect(await servedVersion(host)).toBe('f1')
  })

  it('the same after a run killed once it had written the file: the post step puts it back', async () => {
    const before = await envFile()
    const running = runAction(
      deployInputs(lab, [host], makeRelease('f3', { healthStatus: 503 }), {
        version: 'f3',
        env: 'FEATURE=new',
        'health-timeout': '60s',
      }),
      { killAfterMs: 10_000 },
    )
    // The ship wrote the new file (the health check then waits for a slot that never passes).
    await waitFor(async () => (await envFile()).endsWith('FEATURE=new\n'), {
      what: 'the run to write FEATURE=new',
      timeoutMs: 10_000,
    })
    const killed = await running
    expect(killed.main.exitCode).toBeNull()
    expect(killed.post.exitCode).toBe(0)
    expect(killed.post.log).toContain('put back shared/.env as it was before the run')
    expect(await envFile()).toBe(before)
    expect(await servedVersion(host)).toBe('f1')
  }, 120_000)
})
