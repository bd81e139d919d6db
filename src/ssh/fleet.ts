import type { HostAddress } from '../inputs.js'
import { forEachParallel } from '../parallel.js'
import { RemoteHost, type LineSink, type SshOptions } from './connection.js'

/** Open connections to every host of a run (and to the jump host, when there is one). */
export class Fleet {
  private constructor(
    readonly hosts: RemoteHost[],
    private readonly jumpHost: RemoteHost | undefined,
  ) {}

  /**
   * Connects to all hosts in parallel (at most `maxParallel` at once). If any host fails, the
   * others are closed again and the error names every host that failed.
   */
  static async connect(
    addresses: readonly HostAddress[],
    options: SshOptions,
    settings: { maxParallel: number; proxyJump?: HostAddress; logFor: (host: string) => LineSink },
  ): Promise<Fleet> {
    const via = settings.proxyJump
      ? await RemoteHost.connect(settings.proxyJump, options)
      : undefined
    const opened = new Map<HostAddress, RemoteHost>()
    try {
      await forEachParallel(addresses, settings.maxParallel, async (address) => {
        const log = settings.logFor(address.label)
        opened.set(address, await RemoteHost.connect(address, options, { via, log }))
      })
    } catch (error) {
      opened.forEach((host) => host.dispose())
      via?.dispose()
      throw error
    }
    return new Fleet(
      addresses.map((a) => opened.get(a) as RemoteHost),
      via,
    )
  }

  dispose(): void {
    this.hosts.forEach((host) => host.dispose())
    this.jumpHost?.dispose()
  }
}
