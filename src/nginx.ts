/**
 * The nginx upstream include the action owns (pure): rendering, and telling our file apart from
 * one edited by hand since (drift). The body is checksummed in the header, so drift is detected
 * from the file alone, even if the host's state was lost.
 */
import { createHash } from 'node:crypto'

export interface UpstreamServer {
  /** Default 127.0.0.1 (a slot on this host); an app host for a load balancer. */
  host?: string
  port: number
  /** nginx `weight` (canary); omitted when undefined. */
  weight?: number
  /** Marked `down`. */
  down?: boolean
}

export interface UpstreamSpec {
  /** Name of the upstream group: the app name (the load balancer's is `<app>_lb`). */
  name: string
  servers: UpstreamServer[]
  /** Value of `$<name>_live_slot`; no variable when undefined. */
  liveSlot?: string
  /**
   * Port (127.0.0.1) of a tiny server that proxies to the upstream and answers with the upstream
   * address that served it, so the action can check that nginx really sends traffic to the new
   * slot. A TCP port, not a unix socket: a socket file left behind by a crashed nginx would make
   * nginx fail to start again.
   */
  verifyPort: number
}

export const VERIFY_HEADER = 'x-deploy-upstream'
const MARKER = '# Managed by ssh-zero-downtime-deploy'

function body(spec: UpstreamSpec): string {
  const servers = spec.servers.map((s) => {
    const weight = s.weight === undefined ? '' : ` weight=${s.weight}`
    const host = s.host === undefined ? '127.0.0.1' : s.host.includes(':') ? `[${s.host}]` : s.host
    return `    server ${host}:${s.port}${weight} max_fails=0${s.down ? ' down' : ''};\n`
  })
  const variable = `$${spec.name.replaceAll('-', '_')}_live_slot`
  return [
    `upstream ${spec.name} {\n${servers.join('')}}\n`,
    spec.liveSlot === undefined
      ? ''
      : `map $host ${variable} {\n    default ${spec.liveSlot};\n}\n`,
    `server {\n`,
    `    listen 127.0.0.1:${spec.verifyPort};\n`,
    `    access_log off;\n`,
    `    location / {\n`,
    `        proxy_pass http://${spec.name};\n`,
    `        add_header X-Deploy-Upstream $upstream_addr always;\n`,
    `    }\n`,
    `}\n`,
  ].join('')
}

function checksum(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

export function renderUpstream(spec: UpstreamSpec): string {
  const content = body(spec)
  return (
    `${MARKER} for upstream ${spec.name}. Do not edit: the next deploy\n` +
    `# refuses to overwrite a changed file unless its input force is true.\n` +
    `# sha256:${checksum(content)}\n` +
    content
  )
}

export type UpstreamOwnership =
  /** No file, or an empty one (e.g. created by the operator to set its owner). */
  | 'absent'
  /** Written by us and unchanged since. */
  | 'ours'
  /** Written by us, then edited. */
  | 'drifted'
  /** Not written by us. */
  | 'foreign'

export function upstreamOwnership(content: string): UpstreamOwnership {
  if (content.trim() === '') return 'absent'
  if (!content.startsWith(MARKER)) return 'foreign'
  const lines = content.split('\n')
  const recorded = /^# sha256:([0-9a-f]{64})$/.exec(lines[2] ?? '')?.[1]
  const rest = lines.slice(3).join('\n')
  return recorded === checksum(rest) ? 'ours' : 'drifted'
}
