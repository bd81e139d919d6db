/**
 * bench/zero-downtime: failed requests under constant load through nginx while the action deploys,
 * rolls back, rolls through a load balancer and promotes a canary, against the seed-style bash
 * restart (stop old, start new on the same port) as a baseline, in one run. Target (issue 9): 0
 * failed of >= 5,000 requests per scenario.
 *
 *   npm run bench:zero-downtime                            (as root; ~2-3 minutes)
 *   npm run bench:zero-downtime -- --only blue-green,rollback
 *
 * Each scenario repeats its operation under load until the load made >= 5,000 requests. A
 * scenario whose strategy this build of the action does not have yet (it fails with "not built")
 * is reported as skipped. Traffic stays on the lab's own network namespaces.
 */
import { deployInputs, addSite, makeRelease } from '../test/deploy-fixture.js'
import { startLab, type Lab, type LabHost } from '../test/hosts/index.js'
import { notBuilt, requireBundle, timedAction } from './lib/action.js'
import { requireRoot, selected } from './lib/cli.js'
import { formatLoadReport, underLoad, type UnderLoadResult } from './lib/load.js'
import { seedDeploy, SEED_PORT } from './lib/seed-deploy.js'
import { addBalancerSite, addPortSite } from './lib/sites.js'
import { count, machineLine, markdownTable, median, seconds } from './lib/stats.js'

const SCENARIOS = ['bash-restart', 'blue-green', 'rollback', 'rolling', 'canary'] as const
type Scenario = (typeof SCENARIOS)[number]
const MIN_REQUESTS = Number(process.env.BENCH_MIN_REQUESTS ?? 5000)

requireRoot()
requireBundle()
const only = selected(SCENARIOS)

let versions = 0
const nextVersion = () => `z${++versions}`

/** What a scenario needs: the URL the load hits and one operation to repeat under it. */
interface Setup {
  url: string
  operation: (i: number) => Promise<void>
  label: string
}

async function deploy(lab: Lab, hosts: LabHost[], extra: Record<string, string> = {}) {
  const version = extra.version ?? nextVersion()
  await timedAction(deployInputs(lab, hosts, makeRelease(version), { version, ...extra }))
  return version
}

const setups: Record<Scenario, (lab: Lab) => Promise<Setup>> = {
  'bash-restart': async (lab) => {
    const host = lab.host('host2')
    const first = nextVersion()
    await seedDeploy(lab, host, makeRelease(first), first)
    await addPortSite(host, SEED_PORT, true)
    return {
      label: 'bash restart (baseline)',
      url: `http://${host.address}/`,
      operation: async () => {
        const version = nextVersion()
        await seedDeploy(lab, host, makeRelease(version), version)
      },
    }
  },
  'blue-green': async (lab) => {
    const host = lab.host('host1')
    await ensureShopSite(lab, host)
    return {
      label: 'blue-green deploy',
      url: `http://${host.address}/`,
      operation: async () => void (await deploy(lab, [host])),
    }
  },
  rollback: async (lab) => {
    const host = lab.host('host1')
    await ensureShopSite(lab, host)
    // Two releases in the history; each operation rolls back to the one not live.
    const pair = [await deploy(lab, [host]), await deploy(lab, [host])]
    return {
      label: 'rollback',
      url: `http://${host.address}/`,
      operation: async (i) =>
        void (await timedAction({
          ...deployInputs(lab, [host], makeRelease('unused')),
          'rollback-to': pair[i % 2]!,
        })),
    }
  },
  rolling: async (lab) => {
    const apps = [lab.host('host3'), lab.host('host4')]
    const lb = lab.host('host5')
    const rolling = { strategy: 'rolling', 'batch-size': '1', 'load-balancer': lb.address }
    await deploy(lab, apps, rolling)
    await Promise.all(apps.map((h) => addSite(h, 'shop')))
    await addBalancerSite(lb, 'shop')
    return {
      label: 'rolling, 2 hosts, batch 1, through a load balancer',
      url: `http://${lb.address}/`,
      operation: async () => void (await deploy(lab, apps, rolling)),
    }
  },
  canary: async (lab) => {
    const host = lab.host('host1')
    await ensureShopSite(lab, host)
    const canary = {
      strategy: 'canary',
      'canary-weight': '10,50,100',
      'canary-step-duration': '3s',
    }
    return {
      label: 'canary 10,50,100 (3 s steps), promote',
      url: `http://${host.address}/`,
      operation: async () => void (await deploy(lab, [host], canary)),
    }
  },
}

let shopSite: Promise<void> | undefined
/** The first deploy to host1 and the operator's site, once for the scenarios that share host1. */
function ensureShopSite(lab: Lab, host: LabHost): Promise<void> {
  shopSite ??= (async () => {
    await deploy(lab, [host])
    await addSite(host, 'shop')
  })()
  return shopSite
}

interface Row {
  scenario: Scenario
  label: string
  result?: UnderLoadResult
  skipped?: string
}

const lab = await startLab({ hosts: 5, name: 'bench-zero-downtime' })
const rows: Row[] = []
try {
  for (const scenario of only) {
    const setup = await setups[scenario](lab)
    const result = await underLoad([setup.url], setup.operation, { minRequests: MIN_REQUESTS })
    if (result.error !== undefined && notBuilt(result.error) && result.operations === 0) {
      rows.push({ scenario, label: setup.label, skipped: (result.error as Error).message })
      console.error(`${scenario}: skipped (${(result.error as Error).message})`)
      continue
    }
    if (result.error !== undefined) throw result.error
    rows.push({ scenario, label: setup.label, result })
    console.error(
      `${scenario}: ${result.operations} operation(s); ${formatLoadReport(result.report)}`,
    )
  }
} finally {
  await lab.stop()
}

const table = markdownTable(
  [
    'scenario',
    '>operations',
    '>requests',
    '>failed',
    '>non-2xx',
    '>transport errors',
    '>keep-alive retries',
    '>p50',
    '>p99',
    '>operation (median)',
  ],
  rows.map(({ label, result, skipped }) => {
    if (!result) return [label, `skipped: ${skipped}`, '', '', '', '', '', '', '', '']
    const r = result.report
    const failed = r.requests > 0 ? ` (${((100 * r.failed) / r.requests).toFixed(1)} %)` : ''
    return [
      label,
      result.operations,
      count(r.requests),
      `${count(r.failed)}${r.failed > 0 ? failed : ''}`,
      count(r.non2xx),
      count(r.transportErrors),
      r.keepAliveRetries,
      `${r.p50Ms} ms`,
      `${r.p99Ms} ms`,
      seconds(median(result.operationMs)),
    ]
  }),
)
console.log(table)
const actionRows = rows.filter((r) => r.result && r.scenario !== 'bash-restart')
const met = actionRows.filter(
  (r) => r.result!.report.failed === 0 && r.result!.report.requests >= MIN_REQUESTS,
)
console.log(
  `\nTarget: 0 failed of >= ${count(MIN_REQUESTS)} requests per action scenario: ` +
    `${met.length} of ${actionRows.length} met. ${await machineLine()}`,
)
