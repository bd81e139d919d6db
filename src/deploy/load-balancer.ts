/**
 * The load balancer of a rolling deploy: a host whose nginx balances over the app hosts through
 * an upstream file the action owns (`server <app host>:<lb-backend-port>` lines). A batch is
 * marked `down` there before it switches and put back after.
 */
import type { HostAddress, Settings } from '../inputs/settings.js'
import { renderUpstream } from '../nginx/render.js'
import { lbUpstreamFile, type UpstreamFile } from '../nginx/upstream-file.js'
import { layout, type Layout } from '../remote/layout.js'
import type { Host } from '../ssh/host.js'
import { acquireLockReading, type HeldLock } from './lock.js'

export class LoadBalancer {
  private readonly layout: Layout
  private readonly upstream: UpstreamFile
  private lock: HeldLock | undefined

  constructor(
    readonly host: Host,
    private readonly settings: Settings,
    /** The app hosts, in the order of the `hosts` input. */
    private readonly backends: readonly HostAddress[],
  ) {
    this.layout = layout(settings.app.deployPath)
    this.upstream = lbUpstreamFile(host, settings, this.layout)
  }

  get name(): string {
    return this.host.name
  }

  /**
   * Takes the deploy lock on the balancer too, reading its upstream file in the same round trip,
   * and refuses a hand-edited one.
   */
  async prepare(holder: string): Promise<void> {
    const { layout, settings, upstream } = this
    const held = await acquireLockReading(
      this.host,
      layout,
      settings.lockTimeoutMs,
      holder,
      upstream.file,
      'check lb upstream',
    )
    this.lock = held
    upstream.check(held.value, settings.force)
  }

  async release(): Promise<void> {
    await this.lock?.release()
    this.lock = undefined
  }

  /**
   * Serves traffic only from the app hosts not in `down`: writes the file, tests nginx, reloads,
   * then checks through the balancer that no request goes to a host marked down. On failure the
   * previous file comes back.
   */
  async route(down: readonly HostAddress[]): Promise<void> {
    const port = this.settings.rolling.lbBackendPort
    const content = renderUpstream({
      name: `${this.settings.app.name}_lb`,
      servers: this.backends.map((b) => ({ host: b.host, port, down: down.includes(b) })),
      verifyPort: this.settings.nginx.verifyPort,
    })
    const step =
      down.length > 0 ? `take ${down.map((d) => d.label).join(', ')} out` : 'put all back'
    const forbidden = new Set(down.map((d) => `${d.host}:${port}`))
    await this.upstream.switchTo(
      content,
      (answer) =>
        forbidden.has(answer.upstream)
          ? `a request still went to ${answer.upstream}, which is marked down`
          : undefined,
      {
        step: `load balancer: ${step}`,
        rounds: Math.max(1, 2 * (this.backends.length - down.length)),
      },
    )
  }
}
