import type { HostAddress, Settings } from '../inputs/settings.js'
import { forEachParallel } from '../common/parallel.js'
import { RemoteHost, type LineSink } from './connection.js'
import { connectJumpHost } from './jump-host.js'
import { sshOptionsFrom } from './options.js'

/**
 * Open connections to every host of a run (`hosts`, then `worker-hosts`), its load balancer and
 * jump host, if any.
 */
export class Fleet {
  private constructor(
    readonly hosts: RemoteHost[],
    readonly workerHosts: RemoteHost[],
    readonly loadBalancer: RemoteHost | undefined,
    private readonly jumpHost: RemoteHost | undefined,
  ) {}

  /**
   * Connects to all hosts in parallel (at most `max-parallel` at once), through the jump host if
   * any. If any host fails, the others are closed again and the error names every host that failed.
   */
  static async connect(
    settings: Settings,
    run: {
      loadBalancer?: HostAddress
      logFor: (host: string) => LineSink
    },
  ): Promise<Fleet> {
    const addresses = [...settings.hosts, ...settings.workers.hosts]
    const options = sshOptionsFrom(settings)
    const via = await connectJumpHost(settings)
    const opened = new Map<HostAddress, RemoteHost>()
    const all = run.loadBalancer ? [...addresses, run.loadBalancer] : addresses
    try {
      await forEachParallel(all, settings.ssh.maxParallel, async (address) => {
        const log = run.logFor(address.label)
        opened.set(address, await RemoteHost.connect(address, options, { via, log }))
      })
    } catch (error) {
      opened.forEach((host) => host.dispose())
      via?.dispose()
      throw error
    }
    const lb = run.loadBalancer && opened.get(run.loadBalancer)
    const connected = (list: HostAddress[]) => list.map((a) => opened.get(a) as RemoteHost)
    return new Fleet(connected(settings.hosts), connected(settings.workers.hosts), lb, via)
  }

  dispose(): void {
    this.hosts.forEach((host) => host.dispose())
    this.workerHosts.forEach((host) => host.dispose())
    this.loadBalancer?.dispose()
    this.jumpHost?.dispose()
  }
}
