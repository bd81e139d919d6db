/**
 * This action as a row of the peers benchmark: a blue-green deploy with the built bundle. `onRun`
 * sees each run (for its phase timeline).
 */
import { addSite, deployInputs, makeRelease } from '../../../test/deploy-fixture.js'
import type { Lab, LabHost } from '../../../test/hosts/index.js'
import { timedAction, type TimedRun } from '../action.js'
import type { Peer } from './types.js'

export function actionPeer(
  lab: Lab,
  host: LabHost,
  release: (version: string) => string = makeRelease,
  healthInterval = '200ms',
  onRun: (run: TimedRun) => void = () => {},
): Peer {
  return {
    name: 'this action (blue-green)',
    setup: `deployInputs of the e2e tests: release-path, start-command, health-interval ${healthInterval}`,
    deploy: async (version) => {
      const inputs = { version, 'health-interval': healthInterval }
      const run = await timedAction(deployInputs(lab, [host], release(version), inputs))
      onRun(run)
      return run.ms
    },
    serve: () => addSite(host, 'shop'),
  }
}
