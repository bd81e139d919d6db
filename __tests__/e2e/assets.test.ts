/**
 * Fingerprinted assets across versions (asset-path) on the bundle, under browsers that fetch a
 * page and then its bundle 0.2-3 s later: blue-green v1 → v2 → v3, a rollback run without
 * asset-path, a canary at 50 % without a sticky cookie, a 2-host rolling deploy behind a load
 * balancer, and an in-place reload (old and new workers answer side by side). Not one bundle
 * request may fail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorLine, runAction, type ActionRun } from '../../test/action-runner.js'
import { startBundleLoad, type BundleLoadReport } from '../../test/bundle-load.js'
import {
  addSite,
  deployInputs,
  fingerprint,
  hostState,
  makeAssetRelease,
  servedVersion,
  addBalancerSite,
} from '../../test/deploy-fixture.js'
import { startLab, type Lab, type LabHost } from '../../test/hosts/index.js'

const ASSETS = 'public/assets'

let lab: Lab
let host: LabHost

beforeAll(async () => {
  lab = await startLab({ hosts: 5, name: 'assets' })
  host = lab.hosts[0]!
})

afterAll(async () => {
  await lab?.stop()
})

/** A run under browsers on `origins`, once some bundles were fetched before it. */
async function underBrowsers(
  origins: string[],
  run: () => Promise<ActionRun>,
): Promise<{ run: ActionRun; load: BundleLoadReport }> {
  const browsers = startBundleLoad(origins)
  await browsers.bundlesAtLeast(6)
  const result = await run()
  // The pages opened just before the run ended still fetch their bundle.
  const load = await browsers.stop()
  return { run: result, load }
}

const bundle = (version: string) => `${ASSETS}/app-${fingerprint(version)}.js`

/** The status nginx answers for `path` on `on`. */
async function status(on: LabHost, path: string): Promise<number> {
  const r = await fetch(`http://${on.address}/${path.replace(`${ASSETS}/`, 'assets/')}`, {
    signal: AbortSignal.timeout(3000),
  })
  return r.status
}

/** `stat -c '%i'` of a file of a release, '' when it is not there. */
async function inode(on: LabHost, version: string, path: string): Promise<string> {
  const file = `/srv/shop/releases/${version}/${path}`
  const { stdout } = await on.sh(`stat -c %i ${file} 2>/dev/null || true`)
  return stdout.trim()
}

async function content(on: LabHost, version: string, path: string): Promise<string> {
  return (await on.sh(`cat /srv/shop/releases/${version}/${path}`)).stdout
}

function expectNoFailures(load: BundleLoadReport): void {
  expect(load.failedPages).toEqual([])
  expect(load.failedBundles).toEqual([])
  expect(load.bundles).toBeGreaterThan(10)
}

describe('one host', () => {
  const deploy = (version: string, extra: Record<string, string> = {}) =>
    runAction(
      deployInputs(lab, [host], makeAssetRelease(version), {
        version,
        'asset-path': `${ASSETS}/`,
        'keep-releases': '2',
        ...extra,
      }),
    )

  it('blue-green v1 → v2 → v3: every page finds its bundle, old bundles stay served until pruned', async () => {
    const first = await deploy('v1')
    expect(errorLine(first.main.log)).toBe('')
    expect(first.main.log).toMatch(/assets: nothing to link into v1 \(its own: 3 file\(s\)\)/)
    await addSite(host, 'shop', { canaryLog: true })

    const v2 = await underBrowsers([`http://${host.address}`], () => deploy('v2'))
    expect(errorLine(v2.run.main.log)).toBe('')
    expectNoFailures(v2.load)
    // v1's bundle and chunk came over as hard links; v2's own files are its own.
    expect(v2.run.main.log).toContain(
      `[${host.address}] assets: 2 file(s) of v1 linked into v2 (its own: 3); 2 of v2 into v1 (live)`,
    )
    expect(v2.run.main.summary).toContain('#### Fingerprinted assets')
    expect(await inode(host, 'v2', bundle('v1'))).toBe(await inode(host, 'v1', bundle('v1')))
    expect(await content(host, 'v2', `${ASSETS}/app.js`)).toContain('"v2"')
    expect(await content(host, 'v2', `${ASSETS}/.manifest.json`)).toContain(fingerprint('v2'))
    expect(await status(host, bundle('v1'))).toBe(200)
    expect(v2.run.main.log).not.toContain('different content in two kept releases')

    const v3 = await underBrowsers([`http://${host.address}`], () => deploy('v3'))
    expect(errorLine(v3.run.main.log)).toBe('')
    expectNoFailures(v3.load)
    // keep-releases 2: v1 is pruned, and with it its files in the releases kept.
    expect(v3.run.main.log).toContain('removed v1')
    expect(v3.run.main.log).toContain(
      `[${host.address}] assets: 2 link(s) to pruned releases removed`,
    )
    expect(await inode(host, 'v3', bundle('v2'))).toBe(await inode(host, 'v2', bundle('v2')))
    expect(await inode(host, 'v2', bundle('v3'))).toBe(await inode(host, 'v3', bundle('v3')))
    expect(await inode(host, 'v2', bundle('v1'))).toBe('')
    expect(await inode(host, 'v3', bundle('v1'))).toBe('')
    expect(await content(host, 'v3', bundle('v3'))).toBe('console.log("v3")\n')
    expect(await status(host, bundle('v2'))).toBe(200)
    expect(await status(host, bundle('v1'))).toBe(404)
    const history = (await hostState(host)).history as { version: string; assets?: string[] }[]
    expect(history.map((r) => [r.version, r.assets])).toEqual([
      ['v3', [ASSETS]],
      ['v2', [ASSETS]],
    ])
  })

  it('a rollback run without asset-path bridges the folders recorded with the release', async () => {
    const back = await underBrowsers([`http://${host.address}`], () =>
      runAction(deployInputs(lab, [host], '.', { rollback: 'true' })),
    )
    expect(errorLine(back.run.main.log)).toBe('')
    expect(back.run.main.outputs).toMatchObject({ status: 'rolled-back', version: 'v2' })
    expectNoFailures(back.load)
    // v2 got v3's files when v3 went live: nothing more to link, v3's bundle still served.
    expect(back.run.main.log).toContain(`[${host.address}] assets: nothing to link into v2`)
    expect(await servedVersion(host)).toBe('v2')
    expect(await status(host, bundle('v3'))).toBe(200)
  })

  it('canary at 50 % without a sticky cookie: pages of either version find their bundle on either slot', async () => {
    const canary = await underBrowsers([`http://${host.address}`], () =>
      deploy('v4', {
        strategy: 'canary',
        'canary-weight': '50,100',
        'canary-step-duration': '8s',
        'canary-min-requests': '5',
      }),
    )
    expect(errorLine(canary.run.main.log)).toBe('')
    expect(canary.run.main.outputs.status).toBe('deployed')
    expectNoFailures(canary.load)
    expect(await inode(host, 'v2', bundle('v4'))).toBe(await inode(host, 'v4', bundle('v4')))
    expect(await status(host, bundle('v2'))).toBe(200)
  })
  it('a run that fails before any reload takes back what it linked into the live release', async () => {
    const failed = await runAction(
      deployInputs(lab, [host], makeAssetRelease('v5', { healthStatus: 503 }), {
        version: 'v5',
        'asset-path': ASSETS,
        'health-timeout': '2s',
      }),
    )
    expect(failed.main.exitCode).toBe(1)
    expect(failed.main.log).toContain(
      `[${host.address}] assets: 2 file(s) of v5 taken back from v4 (no page of v5 was served)`,
    )
    expect(await inode(host, 'v4', bundle('v5'))).toBe('')
    expect(await inode(host, 'v4', bundle('v4'))).not.toBe('')
    expect(await inode(host, 'v4', bundle('v2'))).toBe(await inode(host, 'v2', bundle('v2')))
    // The failed release keeps what it got; it goes with it.
    expect(await inode(host, 'v5', bundle('v4'))).toBe(await inode(host, 'v4', bundle('v4')))
    expect(await servedVersion(host)).toBe('v4')
  })
})

describe('rolling, two hosts behind a load balancer', () => {
  it('every host’s live release has the new files before the first batch switches', async () => {
    const apps = lab.hosts.slice(1, 3)
    const lb = lab.hosts[3]!
    const rolling = (version: string) =>
      runAction(
        deployInputs(lab, apps, makeAssetRelease(version), {
          version,
          strategy: 'rolling',
          'batch-size': '1',
          'load-balancer': lb.address,
          'asset-path': ASSETS,
        }),
      )
    expect(errorLine((await rolling('v1')).main.log)).toBe('')
    await Promise.all(apps.map((h) => addSite(h, 'shop')))
    await addBalancerSite(lb, 'shop')

    const v2 = await underBrowsers([`http://${lb.address}`], () => rolling('v2'))
    expect(errorLine(v2.run.main.log)).toBe('')
    expectNoFailures(v2.load)
    for (const app of apps) {
      expect(await inode(app, 'v1', bundle('v2'))).toBe(await inode(app, 'v2', bundle('v2')))
      expect(await inode(app, 'v2', bundle('v1'))).toBe(await inode(app, 'v1', bundle('v1')))
    }
  })
})

describe('reload in place', () => {
  it('old and new workers of one slot serve both versions’ bundles across the reload', async () => {
    const hot = lab.hosts[4]!
    const reload = (version: string) =>
      runAction(
        deployInputs(lab, [hot], makeAssetRelease(version), {
          version,
          strategy: 'reload',
          'start-command': 'node cluster.js',
          'reload-command': 'kill -HUP "$SLOT_PID"',
          'version-path': '/version',
          'asset-path': ASSETS,
        }),
      )
    expect(errorLine((await reload('r1')).main.log)).toBe('')
    await addSite(hot, 'shop')

    const r2 = await underBrowsers([`http://${hot.address}`], () => reload('r2'))
    expect(errorLine(r2.run.main.log)).toBe('')
    expect(r2.run.main.log).toContain('reloaded in place')
    expectNoFailures(r2.load)
    expect(await inode(hot, 'r1', bundle('r2'))).toBe(await inode(hot, 'r2', bundle('r2')))
    expect(await status(hot, bundle('r1'))).toBe(200)
  })
})
