/**
 * The load balancer of a rolling deploy: a host whose nginx balances over the app hosts through
 * an upstream file the action owns (`server <app host>:<lb-backend-port>` lines). A batch is
 * marked `down` there before it switches and put back after.
 */
import { HostError } from '../errors.js'
import type { HostAddress, Settings } from '../inputs.js'
import { renderUpstream, upstreamOwnership } from '../nginx.js'
import { readFileIfPresent } from '../remote/commands/files.js'
import { installUpstream, reloadNginx, restoreUpstream } from '../remote/commands/nginx.js'
import { layout, type Layout } from '../remote/layout.js'
import type { RemoteHost } from '../ssh/connection.js'
import { acquireLock, type HeldLock } from './lock.js'
import { verifyThroughNginx } from './verify.js'

export class LoadBalancer {
  private readonly layout: Layout
  private lock: HeldLock | undefined

  constructor(
    readonly host: RemoteHost,
    private readonly settings: Settings,
    /** The app hosts, in the order of the `hosts` input. */
    private readonly backends: readonly HostAddress[],
  ) {
    this.layout = layout(settings.app.deployPath)
  }

  get name(): string {
    return this.host.name
  }

  /** Takes the deploy lock on the balancer too, and refuses a hand-edited upstream file. */
  async prepare(holder: string): Promise<void> {
    this.lock = await acquireLock(this.host, this.layout, this.settings.lockTimeoutMs, holder)
    const file = this.settings.rolling.lbUpstreamFile
    const { stdout } = await this.host.exec(readFileIfPresent(file), { step: 'check lb upstream' })
    const ownership = upstreamOwnership(stdout)
    if ((ownership === 'drifted' || ownership === 'foreign') && !this.settings.force) {
      throw new HostError(
        this.name,
        'check lb upstream',
        `${file} was edited by hand or not written by this action; nothing was changed. Rerun with force: true to let the action own it.`,
      )
    }
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
    const { lbUpstreamFile: file, lbBackendPort: port } = this.settings.rolling
    const nginx = {
      test: this.settings.nginx.testCommand,
      reload: this.settings.nginx.reloadCommand,
      sudo: this.settings.sudo,
    }
    const content = renderUpstream({
      name: `${this.settings.app.name}_lb`,
      servers: this.backends.map((b) => ({ host: b.host, port, down: down.includes(b) })),
      verifyPort: this.settings.nginx.verifyPort,
    })
    const step =
      down.length > 0 ? `take ${down.map((d) => d.label).join(', ')} out` : 'put all back'
    try {
      await this.host.exec(installUpstream(file, this.layout.lbUpstreamBackup, nginx), {
        step: `load balancer: ${step}`,
        stdin: content,
      })
      await this.host.exec(reloadNginx(nginx), { step: 'load balancer: reload nginx' })
      const forbidden = new Set(down.map((d) => `${d.host}:${port}`))
      const serving = this.backends.length - down.length
      await verifyThroughNginx(
        this.host,
        this.settings.nginx.verifyPort,
        this.settings.health.path,
        (answer) =>
          forbidden.has(answer.upstream)
            ? `a request still went to ${answer.upstream}, which is marked down`
            : undefined,
        Math.max(1, 2 * serving),
      )
    } catch (error) {
      await this.host.tryExec(restoreUpstream(file, this.layout.lbUpstreamBackup, nginx.sudo), {
        step: 'load balancer: restore',
      })
      await this.host.tryExec(reloadNginx(nginx), { step: 'load balancer: reload nginx' })
      throw error
    }
  }
}
