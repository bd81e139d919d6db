/**
 * Websockets (issue 20, part 1), end to end with the bundle:
 * - the handshake (`GET /ws`, `Upgrade: websocket`) answers 101 through both documented sites:
 *   the operator's (README "Host setup" step 4, as test/deploy-fixture's addSite writes it) and
 *   the managed one (`nginx-site`), also on a host whose files the version before websockets
 *   wrote (no drift error: they are rewritten at the switch);
 * - blue-green, rollback and canary with websocket clients connected and plain load: the old slot
 *   drains (until drain-timeout: a websocket never finishes by itself, and the log and the summary
 *   say how many were left), stops, and its app closes every socket with a close frame (1001);
 *   every client reconnects to the new version through nginx within 2 s, no plain request
 *   fails, and no nginx worker is left "shutting down" once the run ends.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorLine, runAction, type ActionRun } from '../../test/action-runner.js'
import {
  addSite,
  deployInputs,
  makeRelease,
  servedVersion,
  writtenBeforeWebsockets,
} from '../../test/deploy-fixture.js'
import { startLab, type Lab, type LabHost } from '../../test/hosts/index.js'
import { formatLoadReport, moreAnswers, startLoad } from '../../test/load.js'
import { waitFor } from '../../test/wait.js'
import {
  HandshakeRefused,
  formatFleetReport,
  openWebSocket,
  startWebSocketFleet,
  type WebSocketFleet,
  type WebSocketFleetReport,
} from '../../test/websocket.js'

const UPSTREAM = '/etc/nginx/conf.d/shop.upstream.conf'
const SITE = '/etc/nginx/conf.d/shop.site.conf'
const NAME = 'shop.example.com'
const CLIENTS = 12
/** Clients that connect during a canary's bake. */
const LATE = 6

let lab: Lab
/** The operator's site (addSite). */
let own: LabHost
/** The managed site (nginx-site). */
let managed: LabHost

beforeAll(async () => {
  lab = await startLab({ hosts: 2, name: 'websockets' })
  own = lab.hosts[0]!
  managed = lab.hosts[1]!
})

afterAll(async () => {
  await lab?.stop()
})

function deploy(host: LabHost, version: string, overrides: Record<string, string> = {}) {
  return runAction(
    deployInputs(lab, [host], makeRelease(version), {
      version,
      // A websocket never finishes by itself: every drain here lasts this long.
      'drain-timeout': '3s',
      ...overrides,
    }),
  )
}

/** nginx workers of the host's nginx that are still finishing connections of an older config. */
async function shuttingDown(host: LabHost): Promise<number> {
  const { stdout } = await host.sh(
    `ps -o args= --ppid "$(cat /var/lib/nginx/nginx.pid)" | grep -c 'worker process is shutting down' || true`,
  )
  return Number(stdout.trim())
}

/** The answer to a websocket handshake: 101, or the status that refused it. */
async function handshake(url: string, headers?: Record<string, string>): Promise<string> {
  try {
    const ws = await openWebSocket(url, { headers })
    ws.send('hello')
    await waitFor(() => ws.messages.length > 0, { what: 'the echo', timeoutMs: 5000 })
    ws.close()
    await ws.closed
    return `101 ${ws.version}, echo '${ws.messages[0]}'`
  } catch (error) {
    if (error instanceof HandshakeRefused) return String(error.status)
    throw error
  }
}

describe('the handshake through both documented sites', () => {
  it("the operator's site of README Host setup answers 101; a plain GET /ws stays a plain request", async () => {
    expect((await deploy(own, 'v1')).main.outputs.status).toBe('deployed')
    await addSite(own, 'shop')
    expect(await handshake(`http://${own.address}/ws`)).toBe("101 v1, echo 'v1: hello'")
    const plain = await fetch(`http://${own.address}/ws`)
    expect(plain.status).toBe(426)
  })

  it('the managed site answers 101, also after files of the version before websockets (the bug: 426)', async () => {
    const first = await deploy(managed, 'v1', { 'nginx-site': NAME })
    expect(errorLine(first.main.log)).toBe('')
    const url = `http://${managed.address}/ws`
    expect(await handshake(url, { host: NAME })).toBe("101 v1, echo 'v1: hello'")

    // The host as the previous version of the action left it: both files without websockets.
    for (const file of [UPSTREAM, SITE]) {
      const now = (await managed.sh(`cat ${file}`)).stdout
      await managed.sh(`cat > ${file} <<'CONF'\n${writtenBeforeWebsockets(now)}CONF`)
    }
    await managed.sh('nginx -t 2>&1 && nginx -s reload')
    await waitFor(async () => (await handshake(url, { host: NAME })) === '426', {
      what: 'nginx to run the files without websockets',
    })

    const next = await deploy(managed, 'v2', { 'nginx-site': NAME })
    expect(errorLine(next.main.log)).toBe('')
    expect(next.main.outputs.status).toBe('deployed')
    expect((await managed.sh(`cat ${SITE}`)).stdout).toContain(
      '        proxy_set_header Upgrade $http_upgrade;\n        proxy_set_header Connection $shop_connection;\n',
    )
    expect(await handshake(url, { host: NAME })).toBe("101 v2, echo 'v2: hello'")
  })
})

describe('deploys with websocket clients connected, under plain load', () => {
  /**
   * Runs `run` while CLIENTS websocket clients (all on `from` first) and plain load go through
   * the operator's site; returns the run and what the clients saw once they are all on `to`.
   */
  async function withClients(
    from: string,
    to: string,
    run: () => Promise<ActionRun>,
  ): Promise<{ run: ActionRun; clients: WebSocketFleetReport; lingering: number }> {
    const load = startLoad({
      urls: [`http://${own.address}/`],
      keepAliveClients: 3,
      newConnectionClients: 2,
      slowClients: 1,
      slowMs: 1000,
      maxDurationMs: 120_000,
    })
    const fleet = startWebSocketFleet({
      url: `http://${own.address}/ws`,
      clients: CLIENTS,
      maxDurationMs: 120_000,
    })
    await waitFor(() => fleet.allOpen(from), { what: `${CLIENTS} clients on ${from}` })
    await moreAnswers(load, 100)
    const result = await run()
    // Once the run ends, no nginx worker is left with connections of an older config.
    const lingering = await shuttingDown(own)
    await waitFor(() => fleet.allOpen(to), { what: `every client back on ${to}` })
    await moreAnswers(load, 100, to)
    const plain = await load.stop()
    const clients = await fleet.stop()
    const took = (result.main.ms / 1000).toFixed(1)
    console.log(
      `websockets ${from} -> ${to} (run ${took} s, ${lingering} nginx worker(s) shutting down at its end): ${formatFleetReport(clients)}`,
    )
    console.log(`websockets ${from} -> ${to}, plain load: ${formatLoadReport(plain)}`)
    expect(plain.failureSamples).toEqual([])
    expect(plain.failed).toBe(0)
    return { run: result, clients, lingering }
  }

  /**
   * What every run here must show (see the file's comment); `leftOpen`: the connections the old
   * slot had when drain-timeout ended (the clients' websockets).
   */
  function expectCleanMove(
    { run, clients }: Awaited<ReturnType<typeof withClients>>,
    to: string,
    slot: string,
    leftOpen = CLIENTS,
  ): void {
    expect(errorLine(run.main.log)).toBe('')
    expect(clients.finalVersions).toEqual(Array(CLIENTS).fill(to))
    // Each client was closed once, by its app's close frame, and came back within 2 s.
    expect(clients.closes).toHaveLength(CLIENTS)
    expect(clients.codes).toEqual({ 1001: CLIENTS })
    expect(clients.cut).toBe(0)
    expect(clients.reconnectMs).toHaveLength(CLIENTS)
    expect(Math.max(...clients.reconnectMs)).toBeLessThanOrEqual(2000)
    expect(clients.failedOpens).toEqual({})
    // The drain gave up on the websockets, and the log and the summary say how many.
    expect(run.main.log).toContain(
      `[${own.address}] the ${slot} slot still had ${leftOpen} connection(s) open after drain-timeout (3.0s); stopping it anyway`,
    )
    expect(run.main.log).toMatch(
      new RegExp(
        `\\[${own.address}\\] drain: drain-timeout reached, ${leftOpen} connection\\(s\\) still open \\(`,
      ),
    )
    expect(run.main.summary).toContain(`, ${leftOpen} left open |`)
    expect(run.main.summary).toContain(
      `Drain: drain-timeout ended with connections still open on ${own.address} (${leftOpen})`,
    )
    expect(JSON.parse(run.main.outputs.hosts ?? '[]')[0]).toMatchObject({
      openAfterDrain: leftOpen,
    })
  }

  it('blue-green: v1 -> v2', async () => {
    const moved = await withClients('v1', 'v2', () => deploy(own, 'v2'))
    expect(moved.run.main.outputs.status).toBe('deployed')
    expectCleanMove(moved, 'v2', 'blue')
    expect(moved.lingering).toBe(0)
  })

  it('rollback: v2 -> v1', async () => {
    const rollback = { 'release-path': '.', rollback: 'true', 'drain-timeout': '3s' }
    const moved = await withClients('v2', 'v1', () =>
      runAction(deployInputs(lab, [own], '.', rollback)),
    )
    expect(moved.run.main.outputs.status).toBe('rolled-back')
    expectCleanMove(moved, 'v1', 'green')
    expect(moved.lingering).toBe(0)
  })

  const canary = (weights: string, bake: string) => ({
    strategy: 'canary',
    'canary-weight': weights,
    'canary-step-duration': bake,
    'canary-min-requests': '10',
  })

  it('canary: v1 -> v3 in three steps (three reloads)', async () => {
    const moved = await withClients('v1', 'v3', () => deploy(own, 'v3', canary('25,50,100', '2s')))
    expect(moved.run.main.outputs.status).toBe('deployed')
    expectCleanMove(moved, 'v3', 'blue')
    expect(moved.lingering).toBe(0)
  })

  it("canary: a client that connects to the new version during a bake stays on that step's nginx worker until it closes", async () => {
    // v3 runs on green: v4 starts on blue.
    let joiners: WebSocketFleet | undefined
    const moved = await withClients('v3', 'v4', async () => {
      const run = deploy(own, 'v4', canary('50,100', '4s'))
      await waitFor(async () => (await servedVersion(own)) === 'v4', {
        what: 'the canary step to send requests to v4',
        intervalMs: 20,
      })
      joiners = startWebSocketFleet({
        url: `http://${own.address}/ws`,
        clients: LATE,
        maxDurationMs: 120_000,
      })
      await waitFor(() => joiners?.allOpen(), { what: `${LATE} late clients` })
      return run
    })
    expect(moved.run.main.outputs.status).toBe('deployed')
    // The late clients that the step sent to v3 were drained and closed with the early ones.
    const onNew = joiners!.report().firstVersions.filter((v) => v === 'v4').length
    expectCleanMove(moved, 'v4', 'green', CLIENTS + LATE - onNew)
    // Those it sent to v4 still talk to it through the worker of the step's config.
    expect(moved.lingering > 0).toBe(onNew > 0)
    const report = await joiners!.stop()
    console.log(
      `websockets, late clients: ${onNew} of ${LATE} opened on v4; ${formatFleetReport(report)}`,
    )
    expect(report.finalVersions).toEqual(Array(LATE).fill('v4'))
    await waitFor(async () => (await shuttingDown(own)) === 0, {
      what: 'the old nginx workers to exit once the late clients closed',
      timeoutMs: 5000,
    })
  })
})
