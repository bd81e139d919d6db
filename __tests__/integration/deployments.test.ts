import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  DESCRIPTION_LIMIT,
  GitHubDeployment,
  truncate,
  type DeploymentTarget,
} from '../../src/report/deployments.js'

/** One request as the stand-in API saw it. */
interface Seen {
  method: string
  path: string
  auth: string | undefined
  body: unknown
}

interface Reply {
  status: number
  body?: unknown
  /** Never answer (for the timeout test). */
  hang?: boolean
}

const TOKEN = 'ghs_testtoken0123456789'
const REPO = '/repos/acme/shop'
const RUN = 'https://github.com/acme/shop/actions/runs/7'

/**
 * A local stand-in for the GitHub REST API: records every request and answers like GitHub. Each
 * test sets `routes` (first match of `METHOD path` wins, path including the query string).
 */
class FakeGitHub {
  readonly seen: Seen[] = []
  routes: [RegExp, (seen: Seen) => Reply][] = []
  private server: Server | undefined
  url = ''

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res))
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    const { port } = this.server.address() as AddressInfo
    this.url = `http://127.0.0.1:${port}`
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections()
    await new Promise((resolve) => this.server?.close(resolve))
  }

  reset(routes: [RegExp, (seen: Seen) => Reply][]): void {
    this.seen.length = 0
    this.routes = routes
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let text = ''
    for await (const chunk of req) text += String(chunk)
    const seen: Seen = {
      method: req.method ?? '',
      path: req.url ?? '',
      auth: req.headers.authorization,
      body: text === '' ? undefined : JSON.parse(text),
    }
    this.seen.push(seen)
    const route = this.routes.find(([pattern]) => pattern.test(`${seen.method} ${seen.path}`))
    const reply = route ? route[1](seen) : { status: 404, body: { message: 'Not Found' } }
    if (reply.hang) return
    res.writeHead(reply.status, { 'content-type': 'application/json; charset=utf-8' })
    res.end(reply.body === undefined ? '' : JSON.stringify(reply.body))
  }
}

const api = new FakeGitHub()
beforeAll(() => api.start())
afterAll(() => api.stop())

function target(overrides: Partial<DeploymentTarget> = {}): DeploymentTarget {
  return {
    token: TOKEN,
    apiUrl: api.url,
    repository: 'acme/shop',
    ref: 'abc123def',
    environment: 'production',
    url: 'https://shop.example.com',
    logUrl: RUN,
    ...overrides,
  }
}

const info = { app: 'shop', version: 'v1.2.3', description: 'Deploy shop v1.2.3 (blue-green)' }

/** Deployments of the environment, newest first, with their statuses (newest first). */
const history: Record<number, string[]> = {
  43: ['in_progress'], // a newer run's deployment: never touched
  42: ['in_progress'], // ours
  41: ['success', 'in_progress'], // live until now -> inactive
  40: ['inactive', 'success'], // already retired
  39: ['in_progress'], // left behind by a cancelled run -> inactive
  38: ['failure', 'in_progress'],
  37: [], // created, never got a status
}

/** Routes that answer like GitHub for a repository with {@link history}. */
function github(createReply: Reply = { status: 201, body: deploymentBody(42) }) {
  let statusId = 1000
  const routes: [RegExp, (seen: Seen) => Reply][] = [
    [/^POST \/repos\/acme\/shop\/deployments$/, () => createReply],
    [
      /^POST \/repos\/acme\/shop\/deployments\/\d+\/statuses$/,
      (seen) => ({
        status: 201,
        body: { id: ++statusId, ...(seen.body as object) },
      }),
    ],
    [
      /^GET \/repos\/acme\/shop\/deployments\?/,
      () => ({
        status: 200,
        body: Object.keys(history)
          .map(Number)
          .sort((a, b) => b - a)
          .map(deploymentBody),
      }),
    ],
    [
      /^GET \/repos\/acme\/shop\/deployments\/\d+\/statuses\?/,
      (seen) => {
        const id = Number(/deployments\/(\d+)\//.exec(seen.path)![1])
        const states = history[id] ?? []
        return {
          status: 200,
          body: states.slice(0, 1).map((state, i) => ({ id: id * 10 + i, state })),
        }
      },
    ],
  ]
  return routes
}

function deploymentBody(id: number) {
  return {
    id,
    url: `https://api.github.com/repos/acme/shop/deployments/${id}`,
    sha: 'abc123def',
    ref: 'abc123def',
    task: 'deploy',
    environment: 'production',
    payload: {},
  }
}

const createRequest = {
  method: 'POST',
  path: `${REPO}/deployments`,
  auth: `token ${TOKEN}`,
  body: {
    ref: 'abc123def',
    environment: 'production',
    auto_merge: false,
    required_contexts: [],
    description: 'Deploy shop v1.2.3 (blue-green)',
    payload: { version: 'v1.2.3', app: 'shop' },
    transient_environment: false,
  },
}

function statusRequest(id: number, body: Record<string, unknown>): Seen {
  return {
    method: 'POST',
    path: `${REPO}/deployments/${id}/statuses`,
    auth: `token ${TOKEN}`,
    body,
  }
}

function get(path: string): Seen {
  return { method: 'GET', path, auth: `token ${TOKEN}`, body: undefined }
}

const inProgress = statusRequest(42, {
  state: 'in_progress',
  log_url: RUN,
  environment_url: 'https://shop.example.com',
  auto_inactive: false,
})

describe('GitHubDeployment against a stand-in GitHub API', () => {
  beforeEach(() => api.reset(github()))

  it('success: create, in_progress, success, then older active deployments inactive', async () => {
    const deployment = await GitHubDeployment.start(target(), info)
    expect(deployment.id).toBe(42)
    expect(api.seen).toEqual([createRequest, inProgress])

    await deployment.finish('success', 'Deployed v1.2.3 to 2 hosts')
    expect(api.seen).toEqual([
      createRequest,
      inProgress,
      statusRequest(42, {
        state: 'success',
        log_url: RUN,
        environment_url: 'https://shop.example.com',
        description: 'Deployed v1.2.3 to 2 hosts',
        auto_inactive: false,
      }),
      get(`${REPO}/deployments?environment=production&per_page=30`),
      // 43 is newer (another run's) and 42 is ours: neither is looked at.
      get(`${REPO}/deployments/41/statuses?per_page=1`),
      statusRequest(41, {
        state: 'inactive',
        description: 'Superseded by deployment 42',
        auto_inactive: false,
      }),
      get(`${REPO}/deployments/40/statuses?per_page=1`),
      get(`${REPO}/deployments/39/statuses?per_page=1`),
      statusRequest(39, {
        state: 'inactive',
        description: 'Superseded by deployment 42',
        auto_inactive: false,
      }),
      get(`${REPO}/deployments/38/statuses?per_page=1`),
      get(`${REPO}/deployments/37/statuses?per_page=1`),
    ])
  })

  it('failure: create, in_progress, failure, and nothing else (the old one still serves)', async () => {
    const deployment = await GitHubDeployment.start(target(), info)
    await deployment.finish('failure', 'Health check failed on host1; rolled back')
    expect(api.seen).toEqual([
      createRequest,
      inProgress,
      statusRequest(42, {
        state: 'failure',
        log_url: RUN,
        environment_url: 'https://shop.example.com',
        description: 'Health check failed on host1; rolled back',
        auto_inactive: false,
      }),
    ])
  })

  it('403 on create: says which permission is missing, and sends nothing more', async () => {
    api.reset(
      github({
        status: 403,
        body: {
          message: 'Resource not accessible by integration',
          documentation_url: 'https://docs.github.com/rest/deployments/deployments',
          status: '403',
        },
      }),
    )
    const error = await GitHubDeployment.start(target(), info).then(
      () => undefined,
      (e: unknown) => e as Error,
    )
    expect(error).toBeInstanceOf(Error)
    expect(error!.message).toBe(
      "Could not create a GitHub Deployment for environment 'production' (HTTP 403: Resource not accessible by integration). " +
        "Give the job 'permissions: deployments: write' (and 'contents: read'), or leave 'environment' empty to skip Deployments.",
    )
    expect(error!.message).not.toContain(TOKEN)
    expect(api.seen).toEqual([createRequest])
  })

  it('404 on create gets the same advice', async () => {
    api.reset(github({ status: 404, body: { message: 'Not Found' } }))
    await expect(GitHubDeployment.start(target(), info)).rejects.toThrow(
      /\(HTTP 404: Not Found\)\. Give the job 'permissions: deployments: write'/,
    )
    expect(api.seen).toEqual([createRequest])
  })

  it('other errors on create carry the status and GitHub message, without the advice', async () => {
    api.reset(github({ status: 422, body: { message: 'No ref found for: abc123def' } }))
    const error = await GitHubDeployment.start(target(), info).catch((e: Error) => e)
    expect((error as Error).message).toBe(
      "Could not create a GitHub Deployment for environment 'production' (HTTP 422: No ref found for: abc123def).",
    )
    expect(api.seen).toEqual([createRequest])
  })

  it('empty url: no environment_url key in any status', async () => {
    const deployment = await GitHubDeployment.start(target({ url: '' }), info)
    await deployment.finish('failure', 'boom')
    expect(api.seen).toEqual([
      createRequest,
      statusRequest(42, { state: 'in_progress', log_url: RUN, auto_inactive: false }),
      statusRequest(42, {
        state: 'failure',
        log_url: RUN,
        description: 'boom',
        auto_inactive: false,
      }),
    ])
    for (const seen of api.seen.slice(1)) expect(seen.body).not.toHaveProperty('environment_url')
  })

  it('cuts descriptions to 140 characters', async () => {
    const long = 'x'.repeat(200)
    const deployment = await GitHubDeployment.start(target(), { ...info, description: long })
    await deployment.finish('failure', long)
    const cut = `${'x'.repeat(DESCRIPTION_LIMIT - 1)}…`
    expect((api.seen[0].body as { description: string }).description).toBe(cut)
    expect((api.seen[2].body as { description: string }).description).toBe(cut)
    expect(truncate('é'.repeat(140))).toBe('é'.repeat(140))
    expect(Array.from(truncate('😀'.repeat(141)))).toHaveLength(140)
  })

  it('a failing final status throws with status and message', async () => {
    const deployment = await GitHubDeployment.start(target(), info)
    api.routes.unshift([
      /^POST .*\/statuses$/,
      () => ({ status: 500, body: { message: 'Server Error' } }),
    ])
    await expect(deployment.finish('success', 'ok')).rejects.toThrow(
      "Could not set GitHub Deployment 42 to 'success' (HTTP 500: Server Error).",
    )
    expect(api.seen.map((s) => `${s.method} ${s.path}`)).toEqual([
      `POST ${REPO}/deployments`,
      `POST ${REPO}/deployments/42/statuses`,
      `POST ${REPO}/deployments/42/statuses`,
    ])
  })

  it('marking older deployments inactive is best effort: a failing list does not fail finish', async () => {
    const deployment = await GitHubDeployment.start(target(), info)
    api.routes.unshift([/^GET /, () => ({ status: 403, body: { message: 'Forbidden' } })])
    await expect(deployment.finish('success', 'ok')).resolves.toBeUndefined()
    expect(api.seen.map((s) => `${s.method} ${s.path}`).slice(2)).toEqual([
      `POST ${REPO}/deployments/42/statuses`,
      `GET ${REPO}/deployments?environment=production&per_page=30`,
    ])
  })

  it('gives up on a hanging API after the request timeout', async () => {
    api.reset([[/^POST /, () => ({ status: 0, hang: true })]])
    const started = Date.now()
    await expect(GitHubDeployment.start(target({ timeoutMs: 200 }), info)).rejects.toThrow(
      /^Could not create a GitHub Deployment for environment 'production' \(request failed: .+\)\.$/,
    )
    expect(Date.now() - started).toBeLessThan(1500)
  })

  it('reports an unreachable API without an HTTP status', async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const { port } = closed.address() as AddressInfo
    await new Promise((resolve) => closed.close(resolve))
    await expect(
      GitHubDeployment.start(target({ apiUrl: `http://127.0.0.1:${port}` }), info),
    ).rejects.toThrow(/ \(request failed: .*ECONNREFUSED.*\)\.$/)
  })
})
