/** nginx sites on lab hosts, the way an operator would write them. */
import { waitUntilServing } from '../../test/deploy-fixture.js'
import type { LabHost } from '../../test/hosts/index.js'

const PROXY = `proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_read_timeout 60s;`

async function writeSite(host: LabHost, name: string, upstream: string): Promise<void> {
  await host.sh(`cat > /etc/nginx/sites-enabled/${name}.conf <<'CONF'
server {
  listen 80 default_server;
  location / {
    proxy_pass ${upstream};
    ${PROXY}
  }
}
CONF
nginx -t 2>&1 && nginx -s reload`)
}

/**
 * A site on port 80 of `host` proxying to one app process on 127.0.0.1:`port` (how a bash-script
 * or Capistrano setup runs: one process, one port). Waits until it serves when `wait` is set.
 */
export async function addPortSite(host: LabHost, port: number, wait = false): Promise<void> {
  await writeSite(host, 'app', `http://127.0.0.1:${port}`)
  if (wait) await waitUntilServing(`http://${host.address}/version`)
}
