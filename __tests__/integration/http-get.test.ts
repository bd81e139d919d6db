/**
 * `http_get` (the host loops' one HTTP request, read with shell builtins) against a real server on
 * this machine, with curl and with GNU Wget: the status, a header in any case, the body, and no
 * answer at all.
 */
import { execFile } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HTTP_FUNCTIONS, HTTP_TMP, headerGlob } from '../../src/remote/commands/http.js'
import { script } from '../../src/remote/shell.js'
import { freePort } from '../../test/free-port.js'

let server: Server
let port: number
beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/down') {
      res.writeHead(503, { 'x-DEPLOY-upstream': '127.0.0.1:3002', 'Content-Type': 'text/plain' })
      res.end('draining\n')
    } else {
      res.writeHead(200, { 'X-Deploy-Upstream': ' 127.0.0.1:3001', 'X-Other': 'nope' })
      res.end(`ok ${'v'.repeat(70_000)}`)
    }
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  port = (server.address() as { port: number }).port
})
afterAll(() => new Promise((done) => server.close(done)))

/** `code|hval|err|body length|body start` of one http_get (async: the server is in this process). */
async function get(client: string, toPort: number, path: string, header = ''): Promise<string> {
  const shell = script(
    `${HTTP_FUNCTIONS}
${HTTP_TMP}
http_get "$1" "$2" "$3" 2000 "$4"
body=$(http_body)
printf '%s|%s|%s|%s|%s' "$code" "$hval" "$err" "\${#body}" "\${body%%v*}"`,
    client,
    String(toPort),
    path,
    header,
  )
  return (await promisify(execFile)('/bin/sh', ['-c', shell.text], { encoding: 'utf8' })).stdout
}

describe.each(['curl', 'wget'])('http_get with %s', (client) => {
  it('reads the status and the header asked for, in any case', async () => {
    const glob = headerGlob('X-Deploy-Upstream')
    expect(await get(client, port, '/down', glob)).toBe('503|127.0.0.1:3002||8|draining')
    // The body is cut at 64 KiB; the header's leading blanks go.
    expect(await get(client, port, '/', glob)).toBe('200|127.0.0.1:3001||65536|ok ')
    expect(await get(client, port, '/', '')).toBe('200|||65536|ok ')
  })

  it('says why there was no answer', async () => {
    const closed = await freePort()
    expect(await get(client, closed, '/', '')).toMatch(
      /^0\|\|(connection refused|no answer)[^|]+\|0\|$/,
    )
  })
})

it('headerGlob matches a header name in any case', () => {
  expect(headerGlob('X-Up2')).toBe('[Xx]-[Uu][Pp]2')
})
