/**
 * Blue-green failure paths end to end: whatever goes wrong before or during the switch, the old
 * version keeps serving, the new slot is stopped and the run fails naming host and step.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { errorLine, runAction } from '../../test/action-runner.js'
import {
  addSite,
  deployInputs,
  hostState,
  listening,
  makeRelease,
  servedVersion,
} from '../../test/deploy-fixture.js'
import { waitOnHost } from '../../test/faults.js'
import { startLab, tempDirsSettled, type Lab, type LabHost } from '../../test/hosts/index.js'

let lab: Lab
let host: LabHost

const deploy = (version: string, overrides: Record<string, string> = {}, behaviour?: object) =>
  runAction(
    deployInputs(lab, [host], makeRelease(version, behaviour as Record<string, unknown>), {
      version,
      ...overrides,
    }),
  )
const upstreamFile = () => host.sh('cat /etc/nginx/conf.d/shop.upstream.conf').then((r) => r.stdout)

beforeAll(async () => {
  lab = await startLab({ hosts: 1, name: 'bg-failures' })
  host = lab.hosts[0]!
  const v1 = await deploy('v1')
  expect(v1.main.exitCode).toBe(0)
  await addSite(host, 'shop')
})

afterAll(async () => {
  await lab?.stop()
})

/** Every failure case must leave v1 serving from blue, with green stopped. */
async function expectV1StillServing(): Promise<void> {
  expect(await servedVersion(host)).toBe('v1')
  expect(await listening(host, 3002)).toBe(false)
  expect(await hostState(host)).toMatchObject({ liveSlot: 'blue' })
  const { stdout } = await host.sh('readlink /srv/shop/current')
  expect(stdout.trim()).toBe('releases/v1')
}

describe('failures before the switch leave the old version serving', () => {
  let before = ''
  beforeEach(async () => {
    before = await upstreamFile()
  })

  it('health never passes', async () => {
    const run = await deploy('bad-health', { 'health-timeout': '2s' }, { healthStatus: 503 })
    expect(run.main.exitCode).toBe(1)
    expect(run.main.outputs.status).toBe('failed')
    expect(errorLine(run.main.log)).toContain(
      `[${host.address}] health: green slot (port 3002) not healthy within health-timeout (2s); last check: GET /health answered 503`,
    )
    expect(await upstreamFile()).toBe(before)
    await expectV1StillServing()
  })

  it('the process exits while booting: its log tail is in the error', async () => {
    const run = await deploy('crash', {}, { crashAtBoot: true })
    expect(run.main.exitCode).toBe(1)
    const error = errorLine(run.main.log)
    expect(error).toContain(
      `[${host.address}] health: the new version exited while booting on green`,
    )
    expect(error).toContain('fatal: crashing at boot as asked')
    await expectV1StillServing()
  })

  it('nginx -t fails: nothing switched, the upstream file is restored', async () => {
    await host.sh(`echo 'bogus_directive on;' > /etc/nginx/conf.d/zz-broken.conf`)
    try {
      const run = await deploy('v2-nginx-t')
      expect(run.main.exitCode).toBe(1)
      const error = errorLine(run.main.log)
      expect(error).toContain(
        `[${host.address}] switch: install upstream and test nginx: command exited 1`,
      )
      expect(error).toContain('unknown directive')
      expect(await upstreamFile()).toBe(before)
    } finally {
      await host.sh('rm -f /etc/nginx/conf.d/zz-broken.conf')
    }
    await expectV1StillServing()
  })

  it('the migration fails: nothing started or switched', async () => {
    const run = await deploy('v2-migrate', {
      'migrate-command': 'echo "migrating $APP_VERSION"; exit 9',
    })
    expect(run.main.exitCode).toBe(1)
    expect(errorLine(run.main.log)).toContain(`[${host.address}] migrate: command exited 9`)
    expect(run.main.log).toContain('migrating v2-migrate')
    await expectV1StillServing()
  })

  it('the smoke test fails against the preview URL: nothing switched', async () => {
    const run = await deploy('v2-smoke', {
      'smoke-command': `node -e "fetch(process.env.DEPLOY_PREVIEW_URL + '/version').then((r) => r.text()).then((t) => { console.log('preview says', t); process.exit(3) })"`,
    })
    expect(run.main.exitCode).toBe(1)
    expect(run.main.log).toContain('preview says v2-smoke')
    expect(errorLine(run.main.log)).toContain('smoke-command failed (exit 3); nothing was switched')
    await expectV1StillServing()
  })

  it('a hand-edited upstream file (drift) is refused before anything starts', async () => {
    await host.sh(`sed -i 's/max_fails=0/max_fails=3/' /etc/nginx/conf.d/shop.upstream.conf`)
    try {
      const run = await deploy('v2-drift')
      expect(run.main.exitCode).toBe(1)
      expect(errorLine(run.main.log)).toContain(
        `[${host.address}] check upstream: /etc/nginx/conf.d/shop.upstream.conf was edited by hand since the last deploy (drift); nothing was changed.`,
      )
      // No ship line, for one host or for the fleet: nothing was uploaded.
      expect(run.main.log).not.toMatch(/^(\[.+?\] )?ship[:,]/m)
    } finally {
      await host.sh(`sed -i 's/max_fails=3/max_fails=0/' /etc/nginx/conf.d/shop.upstream.conf`)
    }
    await expectV1StillServing()
  })

  it('refuses to change a release that went live (same version, different content)', async () => {
    // v1 is live; a build of v1 with other content must not replace it (rollback integrity).
    const again = await deploy('v1', {}, { healthStatus: 200 })
    expect(again.main.exitCode).toBe(1)
    expect(errorLine(again.main.log)).toContain(
      `[${host.address}] ship: release v1 is already on the host with different content`,
    )
    expect(errorLine(again.main.log)).toContain('A version that went live must never change')
    await expectV1StillServing()
  })
})

describe('the deploy lock and the post step', () => {
  it('makes a second run wait, then fail naming the holder; a killed run frees it at once and its post step stops its new slot', async () => {
    const slow = runAction(
      deployInputs(lab, [host], makeRelease('v2-slow', { bootDelayMs: 8000 }), {
        version: 'v2-slow',
      }),
      { killAfterMs: 4000 },
    )
    await waitOnHost(host, '! flock -n /srv/shop/.deploy/lock true') // the slow run holds the lock
    const blocked = await deploy('v2-blocked', { 'lock-timeout': '1s' })
    expect(blocked.main.exitCode).toBe(1)
    const error = errorLine(blocked.main.log)
    expect(error).toContain(`[${host.address}] lock: another deploy holds the lock`)
    expect(error).toContain('https://github.com/acme/shop/actions/runs/4242 by octocat since')

    const killed = await slow
    expect(killed.main.exitCode).toBeNull()
    // The post step stopped the slot the killed run had started; v1 never stopped serving.
    expect(killed.post.log).toContain(
      `post: [${host.address}] stopped the green slot the run had started`,
    )
    expect(killed.post.exitCode).toBe(0)
    await expectV1StillServing()
    const started = Date.now()
    const next = await deploy('v2-after-kill', { 'lock-timeout': '0' })
    expect(errorLine(next.main.log)).toBe('')
    expect(next.main.outputs.status).toBe('deployed')
    expect(Date.now() - started).toBeLessThan(20_000)
    expect(await servedVersion(host)).toBe('v2-after-kill')
  })

  it('post step: a run killed during the switch gets nginx back on the live slot', async () => {
    const before = await servedVersion(host)
    const live = (await hostState(host)).liveSlot as string
    const idle = live === 'blue' ? 'green' : 'blue'
    // The first reload hangs after reloading (the marker file is used up): the run dies between
    // reload and record. The post step's reload then returns at once.
    await host.sh('touch /srv/hang-once')
    const killed = await runAction(
      deployInputs(lab, [host], makeRelease('v2-killed-switch'), {
        version: 'v2-killed-switch',
        'nginx-reload-command':
          'nginx -s reload && if [ -f /srv/hang-once ]; then rm /srv/hang-once; sleep 10; fi',
      }),
      { killAfterMs: 3000 },
    )
    expect(killed.main.exitCode).toBeNull()
    expect(killed.post.exitCode).toBe(0)
    expect(killed.post.log).toContain(
      `post: [${host.address}] nginx sends traffic to the live ${live} slot again; stopped the ${idle} slot the run had started`,
    )
    expect(await servedVersion(host)).toBe(before)
    expect(await hostState(host)).toMatchObject({ liveSlot: live })
    // The killed run's switch script, still in the hanging reload, removes its temp dir once it
    // goes on and its next line finds the runner gone (SIGPIPE, trapped).
    await tempDirsSettled([host], 20_000)
    expect(host.tempLeftovers()).toEqual([])
  })
})
