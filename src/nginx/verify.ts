/**
 * After an nginx reload: ask nginx itself, through the verification server in the upstream file
 * (a port on 127.0.0.1 reached over SSH), which upstream server answers, until the check passes.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { HostError, errorMessage } from '../common/errors.js'
import { VERIFY_HEADER } from './render.js'
import type { Host } from '../ssh/host.js'

const VERIFY_TIMEOUT_MS = 10_000

export interface VerifyAnswer {
  status: number
  /** `$upstream_addr` of the request: which server nginx sent it to. */
  upstream: string
}

/**
 * Sends requests through nginx until `check` accepts one answer (returns undefined) or the
 * timeout ends; `rounds` answers in a row must pass (to see round-robin spread requests).
 */
export async function verifyThroughNginx(
  host: Pick<Host, 'name' | 'httpGet'>,
  port: number,
  path: string,
  check: (answer: VerifyAnswer) => string | undefined,
  rounds = 1,
  timeoutMs = VERIFY_TIMEOUT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let passed = 0
  let last = ''
  while (Date.now() < deadline) {
    try {
      const answer = await host.httpGet(port, path, 2000)
      const problem = check({
        status: answer.status,
        upstream: String(answer.headers[VERIFY_HEADER] ?? ''),
      })
      if (problem === undefined && ++passed >= rounds) return
      if (problem !== undefined) {
        passed = 0
        last = problem
      }
    } catch (error) {
      passed = 0
      last = errorMessage(error)
    }
    if (passed === 0) await sleep(50)
  }
  throw new HostError(
    host.name,
    'switch: verify',
    `after the reload, nginx did not send requests where expected within ${timeoutMs / 1000}s (${last})`,
  )
}
