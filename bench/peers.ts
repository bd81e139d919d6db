/**
 * bench/peers: the same release of the sample app to the same kind of test host, under the same
 * load through nginx, with this action, Capistrano, shipit-deploy and pm2 deploy + reload, each set
 * up the way its docs show (bench/lib/peers/*.ts say how), in one run: failed requests and wall
 * time per tool.
 *
 *   npm run bench:peers                              (as root; ~2 minutes, more on the first run)
 *   npm run bench:peers -- --only capistrano,pm2
 *
 * The peer tools are installed at bench time when missing: capistrano and rsync with apt,
 * shipit-cli, shipit-deploy and pm2 with npm into node_modules/.cache/bench-peers (never into
 * package.json). Each tool gets its own host; a first deploy sets it up, then one deploy of a new
 * version runs under load (1 s of load before and after). Traffic stays on the lab's namespaces.
 */
import { startLab, type Lab, type LabHost } from '../test/hosts/index.js'
import { requireBundle } from './lib/action.js'
import { requireRoot, selected } from './lib/cli.js'
import { formatLoadReport, LOAD_COLUMNS, loadCells, underLoad } from './lib/load.js'
import { actionPeer } from './lib/peers/action.js'
import { capistranoPeer } from './lib/peers/capistrano.js'
import { ensurePeerTools, type PeerTools } from './lib/peers/install.js'
import { pm2Peer } from './lib/peers/pm2.js'
import { shipitPeer } from './lib/peers/shipit.js'
import type { Peer } from './lib/peers/types.js'
import { machineLine, markdownTable, seconds } from './lib/stats.js'

const TOOLS = ['action', 'capistrano', 'shipit', 'pm2'] as const
type Tool = (typeof TOOLS)[number]

requireRoot()
requireBundle()
const only = selected(TOOLS)
const tools = await ensurePeerTools()
console.error(`peer tools: ${JSON.stringify(tools)}`)

const makePeer: Record<Tool, (lab: Lab, host: LabHost, t: PeerTools) => Promise<Peer>> = {
  action: async (lab, host) => actionPeer(lab, host),
  capistrano: (lab, host, t) => capistranoPeer(lab, host, t.versions.capistrano!),
  shipit: (lab, host, t) => shipitPeer(lab, host, t.shipit, t.versions['shipit-deploy']!),
  pm2: (lab, host, t) => pm2Peer(lab, host, t.pm2, t.versions.pm2!),
}

const message = (error: unknown) => ((error as Error).message ?? String(error)).split('\n')[0]!

const rows: (string | number)[][] = []
const notes: string[] = []
const lab = await startLab({ hosts: only.length, name: 'bench-peers' })
try {
  for (const [i, tool] of only.entries()) {
    const host = lab.hosts[i]!
    let peer: Peer | undefined
    try {
      if (tools.unavailable[tool]) throw new Error(tools.unavailable[tool])
      const made = (peer = await makePeer[tool](lab, host, tools))
      await made.deploy('p1')
      await made.serve()
      let ms = 0
      const result = await underLoad([`http://${host.address}/`], async () => {
        ms = await made.deploy('p2')
      })
      if (result.error !== undefined) throw result.error
      const r = result.report
      console.error(`${tool}: ${seconds(ms)}; ${formatLoadReport(r)}`)
      rows.push([made.name, seconds(ms), ...loadCells(r), Object.keys(r.byVersion).join(' → ')])
      notes.push(`- ${made.name}: ${made.setup}`)
    } catch (error) {
      console.error(`${tool} could not run: ${(error as Error).stack ?? error}`)
      const name = peer?.name ?? tool
      rows.push([name, `could not run: ${message(error)}`, ...LOAD_COLUMNS.map(() => ''), ''])
    } finally {
      await peer?.close?.()
    }
  }
} finally {
  await lab.stop()
}

console.log(markdownTable(['tool', '>deploy wall time', ...LOAD_COLUMNS, 'versions served'], rows))
console.log(`\n${notes.join('\n')}\n\n${await machineLine()}`)
