/**
 * Preview URLs for the smoke test: a local port per new slot, each connection carried to the
 * slot's port on its host through the SSH connection, so checks on the runner reach the new
 * version before any user does.
 */
import net from 'node:net'
import { shellOnRunner } from '../release/build.js'
import type { Host } from '../ssh/host.js'

export interface PreviewTarget {
  host: Host
  port: number
}

export async function withPreviewUrls<T>(
  targets: PreviewTarget[],
  work: (urls: string[]) => Promise<T>,
): Promise<T> {
  const servers = await Promise.all(targets.map(listenFor))
  try {
    return await work(
      servers.map((s) => `http://127.0.0.1:${(s.address() as net.AddressInfo).port}`),
    )
  } finally {
    await Promise.all(servers.map((s) => new Promise((done) => s.close(done))))
  }
}

function listenFor(target: PreviewTarget): Promise<net.Server> {
  const server = net.createServer((socket) => {
    socket.on('error', () => socket.destroy())
    target.host.openTunnel(target.port).then(
      (tunnel) => {
        tunnel.on('error', () => socket.destroy())
        socket.on('close', () => tunnel.destroy())
        socket.pipe(tunnel).pipe(socket)
      },
      () => socket.destroy(),
    )
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve(server))
  })
}

/**
 * Runs `smoke-command` on the runner with DEPLOY_PREVIEW_URLS (space-separated, one per host)
 * and DEPLOY_PREVIEW_URL (the first). A non-zero exit fails the deploy before any switch.
 */
export async function runSmoke(command: string, urls: string[], version: string): Promise<void> {
  const env = {
    ...(process.env as Record<string, string>),
    DEPLOY_PREVIEW_URLS: urls.join(' '),
    DEPLOY_PREVIEW_URL: urls[0] ?? '',
    APP_VERSION: version,
  }
  const code = await shellOnRunner('smoke-command', command, { env, ignoreReturnCode: true })
  if (code !== 0) {
    throw new Error(`smoke-command failed (exit ${code}); nothing was switched: ${command}`)
  }
}
