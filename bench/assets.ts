/**
 * bench/assets: asset-path's bridge of 5,000 files on one host (issue 25; goal ≤ 0.5 s). On a
 * lab host, releases v1, v2, v3 each with `--files` (default 5,000) fingerprinted files of their
 * own in public/assets (in 100 folders), then the host scripts as a deploy runs them, each timed on
 * the host (`date +%s%N` around it, so SSH does not count):
 *
 * - `v2 over v1`: the first bridge (v1 live, asset-path new): lists v1's and v2's own files (cksum
 *   of each), links v1's 5,000 into v2 and v2's 5,000 into v1;
 * - `v3 over v2`: v2 live, v1 kept: lists v3's, links v2's and v1's 10,000 into v3, v3's into v2;
 * - `prune v1`: v1 removed, then the 10,000 links to its files go from v2 and v3.
 *
 * Fresh releases for every repeat; medians of `--repeats` (default 5).
 *
 *   npm run bench:assets                 (as root; ~1 minute)
 *   npm run bench:assets -- --files 20000 --repeats 3
 */
import { bridgeAssets, pruneAssetLinks } from '../src/remote/commands/assets.js'
import { layout } from '../src/remote/layout.js'
import type { Shell } from '../src/remote/shell.js'
import { startLab, type LabHost } from '../test/hosts/index.js'
import { numberOption, requireRoot } from './lib/cli.js'
import { count, machineLine, markdownTable, median, seconds } from './lib/stats.js'

requireRoot()
const files = numberOption('files', 5000, { min: 1 })
const repeats = numberOption('repeats', 5, { min: 1 })
const root = '/srv/bench-assets'
const l = layout(root)
const folders = ['public/assets']

/** Each version's own files: `public/assets/d<k>/f<i>-<version>.js`, 100 folders. */
async function makeReleases(host: LabHost): Promise<void> {
  await host.sh(`rm -rf ${root} && mkdir -p ${root}/releases
for v in v1 v2 v3; do
  d=${root}/releases/$v/public/assets
  for k in $(seq 0 99); do mkdir -p $d/d$k; done
  i=0
  while [ $i -lt ${files} ]; do printf '%s %s\\n' $v $i > $d/d$((i % 100))/f$i-$v.js; i=$((i + 1)); done
  printf '{}' > $d/.manifest.json
done`)
}

/** Runs `shell` on the host; the milliseconds it took there. */
async function timedOnHost(host: LabHost, shell: Shell): Promise<number> {
  const { stdout } = await host.sh(
    `start=$(date +%s%N); ${shell.text} > /tmp/bench-assets.out || exit 1; end=$(date +%s%N); echo $(( (end - start) / 1000000 ))`,
  )
  return Number(stdout.trim().split('\n').at(-1))
}

const lab = await startLab({ hosts: 1, name: 'bench-assets' })
const host = lab.hosts[0]!
const times = { first: [] as number[], second: [] as number[], prune: [] as number[] }
const linked: string[] = []
try {
  for (let i = 0; i < repeats; i++) {
    await makeReleases(host)
    const bridge = (target: string, live: string, sources: string[]) =>
      bridgeAssets({ layout: l, target, live, sources, folders })
    times.first.push(await timedOnHost(host, bridge('v2', 'v1', ['v1'])))
    times.second.push(await timedOnHost(host, bridge('v3', 'v2', ['v2', 'v1'])))
    if (i === 0) linked.push((await host.sh('cat /tmp/bench-assets.out')).stdout.trim())
    await host.sh(`rm -rf ${root}/releases/v1`)
    times.prune.push(await timedOnHost(host, pruneAssetLinks(l, ['v3', 'v2'])))
    console.error(
      `repeat ${i + 1}: ${times.first.at(-1)} ms, ${times.second.at(-1)} ms, ${times.prune.at(-1)} ms`,
    )
  }
  const { stdout } = await host.sh(
    `find ${root}/releases/v3/public/assets -type f | wc -l; stat -c %h ${root}/releases/v3/public/assets/d0/f0-v3.js`,
  )
  linked.push(
    `after the prune: v3 holds ${stdout.trim().split('\n').join(' files; its own f0 has link count ')}`,
  )
  await host.sh(`rm -rf ${root}`)
} finally {
  await lab.stop()
}

const row = (what: string, ms: number[]) => [what, seconds(median(ms)), seconds(Math.max(...ms))]
console.log(
  markdownTable(
    [`${count(files)} files per release, median of ${repeats}`, '>median', '>slowest'],
    [
      row(`v2 over v1: list both, link ${count(files)} each way`, times.first),
      row(
        `v3 over v2 (v1 kept): link ${count(2 * files)} into v3, ${count(files)} into v2`,
        times.second,
      ),
      row(`prune v1: ${count(2 * files)} links go`, times.prune),
    ],
  ),
)
console.log(`\nThe second bridge said: ${linked[0]?.replace(/\n/g, ', ')}; ${linked[1]}`)
console.log(`\n${await machineLine()}`)
