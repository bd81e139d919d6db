import * as core from '@actions/core'
import type { LineSink } from './ssh/connection.js'

/**
 * Remote output per host. Hosts work in parallel, so their lines are collected (and shown live only
 * in debug logging) and then printed as one collapsible group per host and phase.
 */
export class HostLogs {
  private readonly lines = new Map<string, string[]>()

  sinkFor(host: string): LineSink {
    return (line) => {
      core.debug(`[${host}] ${line}`)
      const list = this.lines.get(host) ?? []
      list.push(line)
      this.lines.set(host, list)
    }
  }

  /** Prints and forgets what each host logged since the last flush, one group per host. */
  flush(phase: string, extra: (host: string) => string[] = () => []): void {
    const hosts = new Set([...this.lines.keys()])
    for (const host of hosts) {
      core.startGroup(`${phase}: ${host}`)
      for (const line of [...(this.lines.get(host) ?? []), ...extra(host)]) core.info(line)
      core.endGroup()
    }
    this.lines.clear()
  }
}
