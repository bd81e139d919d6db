import type { HostAddress } from '../inputs.js'
import { forEachParallel } from '../parallel.js'
import { RemoteHost, type LineSink, type SshOptions } from './connection.js'

/** Open connections to every host of a run, its load balancer and jump host, if any. */
export class Fleet {
  private constructor(
    readonly hosts: RemoteHost[],
    readonly loadBalancer: RemoteHost | undefined,
    private readonly jumpHost: RemoteHost | undefined,
  ) {}

  /**
   * Connects to all hosts in parallel (at most `maxParallel` at once). If any host fails, the
   * others are closed again and the error names every host that failed.
   */
  static async connect(
    addresses: readonly HostAddress[],
    options: SshOptions,
    settings: {
      maxParallel: number
      proxyJump?: HostAddress
      /** Options for the jump host (its own key and known_hosts); default: `options`. */
      jumpOptions?: SshOptions
      loadBalancer?: HostAddress
      logFor: (host: string) => LineSink
    },
  ): Promise<Fleet> {
    const via = settings.proxyJump
      ? await RemoteHost.connect(settings.proxyJump, settings.jumpOptions ?? options)
      : undefined
    const opened = new Map<HostAddress, RemoteHost>()
    const all = settings.loadBalancer ? [...addresses, settings.loadBalancer] : addresses
    try {
      await forEachParallel(all, settings.maxParallel, async (address) => {
        const log = settings.logFor(address.label)
        opened.set(address, await RemoteHost.connect(address, options, { via, log }))
      })
    } catch (error) {
      opened.forEach((host) => host.dispose())
      via?.dispose()
      throw error
    }
    const lb = settings.loadBalancer && opened.get(settings.loadBalancer)
    return new Fleet(
      addresses.map((a) => opened.get(a) as RemoteHost),
      lb,
      via,
    )
  }

  dispose(): void {
    this.hosts.forEach((host) => host.dispose())
    this.loadBalancer?.dispose()
    this.jumpHost?.dispose()
  }
}
