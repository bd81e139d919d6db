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
  /**
   * App hosts: define `log_format <name>_canary`, the access log format a canary and a watch read
   * (the operator's site writes it with `access_log <path> <name>_canary;`). Always rendered on app
   * hosts, so that the site's line stays valid whatever the strategy.
   */
  canaryLogFormat?: boolean
  /**
   * Canary and watch runs on app hosts: the include itself writes `path` in that format (http context, so
   * every server without an `access_log` of its own inherits it), only for requests nginx sent to
   * one of `ports` on 127.0.0.1 (the app's slots). The verify server has `access_log off`, so the
   * action's own verify requests are never counted.
   */
  canaryLog?: { path: string; ports: number[] }
  /**
   * Sticky canary: hash requests on this cookie (consistent hashing, so raising the new slot's
   * weight only moves users to it, never back), and offer `$<name>_canary_cookie` for the site's
   * `add_header Set-Cookie`, so a request without the cookie gets the key it was routed by.
   */
  stickyCookie?: string
}

export const VERIFY_HEADER = 'x-deploy-upstream'
const MARKER = '# Managed by ssh-zero-downtime-deploy'

/**
 * The evidence log line (a canary's and a watch's): `$msec|$status|$upstream_addr|
 * $upstream_response_time` (the last two may be lists, `a, b` after a retry).
 */
export const CANARY_LOG_FORMAT = "'$msec|$status|$upstream_addr|$upstream_response_time'"

/** `$shop` for app `shop`, `$shop_api` for `shop-api`: the start of the include's variables. */
function variablePrefix(name: string): string {
  return `$${name.replaceAll('-', '_')}`
}

/**
 * The `Connection` header a site sends to the app (`$<name>_connection`): `upgrade` for a request
 * that asks for one (a websocket handshake), so that nginx passes the upgrade through, and empty
 * for every other, so that the connection to the app stays keep-alive. Per app, so two apps'
 * includes on one host do not define the same variable.
 */
export function connectionVariable(name: string): string {
  return `${variablePrefix(name)}_connection`
}

function connectionMap(name: string): string {
  return `map $http_upgrade ${connectionVariable(name)} {\n    default upgrade;\n    "" "";\n}\n`
}

function body(spec: UpstreamSpec): string {
  const servers = spec.servers.map((s) => {
    const weight = s.weight === undefined ? '' : ` weight=${s.weight}`
    const host = s.host === undefined ? '127.0.0.1' : s.host.includes(':') ? `[${s.host}]` : s.host
    return `    server ${host}:${s.port}${weight} max_fails=0${s.down ? ' down' : ''};\n`
  })
  const prefix = variablePrefix(spec.name)
  const variable = `${prefix}_live_slot`
  const cookie = spec.stickyCookie
  const hash =
    cookie && spec.servers.length > 1 ? `    hash ${prefix}_canary_key consistent;\n` : ''
  return [
    spec.canaryLogFormat ? `log_format ${spec.name}_canary ${CANARY_LOG_FORMAT};\n` : '',
    spec.canaryLog ? canaryAccessLog(spec.name, prefix, spec.canaryLog) : '',
    cookie
      ? // $request_id is the same in both maps for one request: the cookie a new visitor gets is
        // the key its first request was routed by.
        `map $cookie_${cookie} ${prefix}_canary_key {\n    "" $request_id;\n    default $cookie_${cookie};\n}\n` +
        `map $cookie_${cookie} ${prefix}_canary_cookie {\n    "" "${cookie}=$request_id; Path=/; HttpOnly; SameSite=Lax";\n    default "";\n}\n`
      : '',
    `upstream ${spec.name} {\n${hash}${servers.join('')}}\n`,
    connectionMap(spec.name),
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

/**
 * `$upstream_addr` is a list (`a, b` after a retry, `a : b` after an internal redirect): any of
 * the app's slots in it marks the request as the app's.
 */
function canaryAccessLog(
  name: string,
  prefix: string,
  log: { path: string; ports: number[] },
): string {
  const ports = log.ports.join('|')
  return (
    `map $upstream_addr ${prefix}_canary_logged {\n` +
    `    default 0;\n` +
    `    "~(^| )127\\.0\\.0\\.1:(${ports})(,| |$)" 1;\n` +
    `}\n` +
    `access_log ${log.path} ${name}_canary if=${prefix}_canary_logged;\n`
  )
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
  /** Exactly the line of {@link upstreamPlaceholder}: the operator handed the file to us. */
  | 'placeholder'
  /** Written by us and unchanged since. */
  | 'ours'
  /** Written by us, then edited. */
  | 'drifted'
  /** Not written by us. */
  | 'foreign'

/**
 * `name`: the upstream's name, for recognising the placeholder (a site file has none).
 */
export function upstreamOwnership(content: string, name?: string): UpstreamOwnership {
  if (content.trim() === '') return 'absent'
  const placeholders = name === undefined ? [] : [upstreamPlaceholder(name), oldPlaceholder(name)]
  if (placeholders.includes(content.trim())) return 'placeholder'
  if (!content.startsWith(MARKER)) return 'foreign'
  const lines = content.split('\n')
  const recorded = /^# sha256:([0-9a-f]{64})$/.exec(lines[2] ?? '')?.[1]
  const rest = lines.slice(3).join('\n')
  return recorded === checksum(rest) ? 'ours' : 'drifted'
}

/**
 * The one line an operator puts in the upstream file before the first deploy (README "Host
 * setup"), so that a site with `proxy_pass http://<name>;` and `Connection $<name>_connection`
 * passes `nginx -t` already: an upstream whose only server is marked down (nginx answers 502 until
 * the first deploy) and the connection map. The action treats exactly this line (or the one of
 * {@link oldPlaceholder}) as its own to replace; any other content stays foreign.
 */
export function upstreamPlaceholder(name: string): string {
  return `upstream ${name} { server 127.0.0.1:1 down; } map $http_upgrade ${connectionVariable(name)} { default upgrade; "" ""; } # placeholder: the first deploy replaces this file`
}

/** The placeholder of the README before websockets (no map): a host prepared then, not yet deployed. */
function oldPlaceholder(name: string): string {
  return `upstream ${name} { server 127.0.0.1:1 down; } # placeholder: the first deploy replaces this file`
}

export interface SiteSpec {
  /** The app name: the upstream the site proxies to. */
  name: string
  /** `server_name` values (at least one). */
  serverNames: string[]
  /** `listen` value: a port, `address:port` or `[ipv6]:port`. */
  listen: string
}

/**
 * The minimal site the action writes and owns with `nginx-site`: every request to the app's
 * upstream, over keep-alive connections (HTTP/1.1, no `Connection: close`), websocket upgrades
 * passed through (`Upgrade`, and `Connection` from the include's map), with the client's Host and
 * address. No `access_log` of its own, so it inherits nginx's http-level logs (the canary's
 * included). Checksummed in its header like the upstream file, for the drift check; a site the
 * previous version wrote is still the action's, and is rewritten with the next upstream install.
 */
export function renderSite(spec: SiteSpec): string {
  const content = [
    `server {\n`,
    `    listen ${spec.listen};\n`,
    `    server_name ${spec.serverNames.join(' ')};\n`,
    `    location / {\n`,
    `        proxy_pass http://${spec.name};\n`,
    `        proxy_http_version 1.1;\n`,
    `        proxy_set_header Upgrade $http_upgrade;\n`,
    `        proxy_set_header Connection ${connectionVariable(spec.name)};\n`,
    `        proxy_set_header Host $host;\n`,
    `        proxy_set_header X-Real-IP $remote_addr;\n`,
    `        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n`,
    `        proxy_set_header X-Forwarded-Proto $scheme;\n`,
    `        proxy_set_header X-Forwarded-Host $host;\n`,
    `    }\n`,
    `}\n`,
  ].join('')
  return (
    `${MARKER} for site ${spec.name} (input nginx-site). Do not edit: the\n` +
    `# next deploy refuses to overwrite a changed file unless its input force is true.\n` +
    `# sha256:${checksum(content)}\n` +
    content
  )
}
