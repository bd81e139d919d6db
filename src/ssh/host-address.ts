import type { HostAddress } from '../inputs/settings.js'

/** `host:port` as ssh shows it, with brackets for IPv6. */
export function endpoint(address: HostAddress): string {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host
  return `${host}:${address.port}`
}
