/** This action as a row of the peers benchmark: a blue-green deploy with the built bundle. */
import { addSite, deployInputs, makeRelease } from '../../../test/deploy-fixture.js'
import type { Lab, LabHost } from '../../../test/hosts/index.js'
import { timedAction } from '../action.js'
import type { Peer } from './types.js'

export function actionPeer(lab: Lab, host: LabHost): Peer {
  return {
    name: 'this action (blue-green)',
    setup: 'deployInputs of the e2e tests: release-path, start-command, health-interval 200ms',
    deploy: async (version) =>
      (await timedAction(deployInputs(lab, [host], makeRelease(version), { version }))).ms,
    serve: () => addSite(host, 'shop'),
  }
}
