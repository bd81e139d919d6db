/**
 * The seed-style bash script (bench/lib/seed-deploy.sh, the baseline of the other benches) as a
 * row of the peers benchmark: tar + scp the release, one ssh that extracts, stops the old process,
 * starts the new one on the same port, then its fixed sleep.
 */
import type { Lab, LabHost } from '../../../test/hosts/index.js'
import { SEED_PORT, SEED_SETTLE_SECONDS, seedDeploy } from '../seed-deploy.js'
import { addPortSite } from '../sites.js'
import type { Peer } from './types.js'

export function seedPeer(lab: Lab, host: LabHost, release: (version: string) => string): Peer {
  return {
    name: `bash script (scp + ssh + restart + sleep ${SEED_SETTLE_SECONDS})`,
    setup: `bench/lib/seed-deploy.sh: scp a tarball, one ssh (extract, stop old, start new on one port), sleep ${SEED_SETTLE_SECONDS} s`,
    deploy: (version) => seedDeploy(lab, host, release(version), version),
    serve: () => addPortSite(host, SEED_PORT, true),
  }
}
