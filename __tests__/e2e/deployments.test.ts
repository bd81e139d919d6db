/**
 * GitHub Deployments through the built bundle: a local server stands in for the GitHub API
 * (GITHUB_API_URL) and records every request the action makes around a deploy.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { errorLine, runAction } from '../../test/action-runner.js'
import { deployInputs, makeRelease } from '../../test/deploy-fixture.js'
import { startLab, type Lab } from '../../test/hosts/index.js'

interface Recorded {
  method: string
  path: string
  auth: string
  body: Record<string, unknown> | undefined
}

let lab: Lab
let api: http.Server
let apiUrl = ''
const requests: Recorded[] = []

beforeAll(async () => {
  lab = await startLab({ hosts: 1, name: 'deployments' })
  api = http.createServer((req, res) => {
    let text = ''
    req.on('data', (chunk: Buffer) => (text += chunk.toString()))
    req.on('end', () => {
      requests.push({
        method: req.method ?? '',
        path: req.url ?? '',
        auth: req.headers.authorization ?? '',
        body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined,
      })
      const denied = req.headers.authorization === 'token read-only'
      res.writeHead(denied ? 403 : req.method === 'GET' ? 200 : 201, {
        'content-type': 'application/json',
      })
      res.end(
        denied
          ? JSON.stringify({ message: 'Resource not accessible by integration' })
          : req.method === 'GET'
            ? '[]'
            : JSON.stringify({ id: 42 }),
      )
    })
  })
  await new Promise<void>((done) => api.listen(0, '127.0.0.1', done))
  apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`
})

afterAll(async () => {
  await new Promise((done) => api?.close(done))
  await lab?.stop()
})

const inputs = (version: string, token: string) =>
  deployInputs(lab, lab.hosts, makeRelease(version), {
    version,
    environment: 'staging',
    url: 'https://staging.example.com',
    'github-token': token,
  })

it('records a deployment: created, in progress, then success with the run and environment URLs', async () => {
  requests.length = 0
  const run = await runAction(inputs('d1', 'secret-token'), { env: { GITHUB_API_URL: apiUrl } })
  expect(run.main.outputs.status).toBe('deployed')
  expect(run.main.outputs['deployment-id']).toBe('42')
  const logUrl = 'https://github.com/acme/shop/actions/runs/4242'
  expect(requests.map((r) => `${r.method} ${r.path}`)).toEqual([
    'POST /repos/acme/shop/deployments',
    'POST /repos/acme/shop/deployments/42/statuses',
    'POST /repos/acme/shop/deployments/42/statuses',
    'GET /repos/acme/shop/deployments?environment=staging&per_page=30',
  ])
  expect(requests.every((r) => r.auth === 'token secret-token')).toBe(true)
  expect(requests[0]!.body).toMatchObject({
    ref: 'c0ffee1234567890c0ffee1234567890c0ffee12',
    environment: 'staging',
    auto_merge: false,
    required_contexts: [],
    payload: { version: 'd1', app: 'shop' },
  })
  expect(requests[1]!.body).toMatchObject({ state: 'in_progress', log_url: logUrl })
  expect(requests[2]!.body).toMatchObject({
    state: 'success',
    log_url: logUrl,
    environment_url: 'https://staging.example.com',
  })
})

it('fails before touching any host when the token cannot create deployments', async () => {
  requests.length = 0
  const run = await runAction(inputs('d2', 'read-only'), { env: { GITHUB_API_URL: apiUrl } })
  expect(run.main.exitCode).toBe(1)
  const error = errorLine(run.main.log)
  expect(error).toContain(
    "Could not create a GitHub Deployment for environment 'staging' (HTTP 403: Resource not accessible by integration). Give the job 'permissions: deployments: write'",
  )
  expect(requests).toHaveLength(1)
  // No lock line: no host was locked.
  expect(run.main.log).not.toMatch(/^(\[.+?\] )?lock and read state[:,]/m)
})
