/**
 * GitHub Deployments for a run with `environment` set: one Deployment per run, marked
 * `in_progress` when the deploy starts and `success`/`failure` when it ends.
 *
 * Superseded deployments are marked `inactive` explicitly instead of relying on GitHub's
 * `auto_inactive` (which every status we create turns off):
 * - GitHub documents `auto_inactive` for "non-transient, non-production environment deployments"
 *   only, and an environment named `production` is a production environment by default, so the
 *   most common environment would keep every old deployment shown as active;
 * - it only touches deployments whose latest status is `success`, so a deployment left
 *   `in_progress` by a cancelled or crashed run would stay "in progress" for ever;
 * - with it off on every status we send, which deployments turn `inactive` (and when) is decided
 *   here, in plain requests the tests check, and a `failure` never retires the deployment that is
 *   in fact still serving.
 * After a `success` status we list the first page of this environment's deployments and mark each
 * older one whose latest status is `success` or `in_progress` as `inactive` (one status request per
 * older deployment, one more for each that is still active). This is best effort: a failure there
 * is a warning, never a failed deploy.
 *
 * The token is only handed to Octokit (which redacts it in its errors); messages here carry the
 * HTTP status and GitHub's message, never request headers.
 */
import * as core from '@actions/core'
import { getOctokit } from '@actions/github'

/** GitHub cuts status descriptions at 140 characters (and rejects longer ones). */
export const DESCRIPTION_LIMIT = 140
/** How many of the environment's latest deployments are checked for `inactive` after a success. */
export const PREVIOUS_DEPLOYMENTS_CHECKED = 30
/** Each API request is abandoned after this long, so a hanging API cannot hang the job. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000

export interface DeploymentTarget {
  /** `github-token` input. */
  token: string
  /** `GITHUB_API_URL` (default https://api.github.com). */
  apiUrl: string
  /** `GITHUB_REPOSITORY`, 'owner/repo'. */
  repository: string
  /** `GITHUB_SHA`: the commit being deployed (a rollback passes the same). */
  ref: string
  /** `environment` input (non-empty: callers skip Deployments when it is empty). */
  environment: string
  /** `url` input ('' = none): sent as `environment_url`. */
  url: string
  /** The run's URL: sent as `log_url` ('' = none). */
  logUrl: string
  /** Per-request timeout; default {@link DEFAULT_REQUEST_TIMEOUT_MS}. */
  timeoutMs?: number
}

export type FinalState = 'success' | 'failure'
type StatusState = FinalState | 'in_progress' | 'inactive'

type Octokit = ReturnType<typeof getOctokit>

/** Latest statuses that make an older deployment count as active (and so get `inactive`). */
const ACTIVE_STATES: ReadonlySet<string> = new Set(['success', 'in_progress'])

export class GitHubDeployment {
  private constructor(
    private readonly octokit: Octokit,
    private readonly target: DeploymentTarget,
    private readonly owner: string,
    private readonly repo: string,
    /** The Deployment's id (the `deployment-id` output). */
    readonly id: number,
  ) {}

  /**
   * Creates the Deployment (`POST /repos/{owner}/{repo}/deployments`) and marks it `in_progress`.
   * A 403/404 on creation means the token may not write deployments: the error says how to fix
   * that. Other failures name the HTTP status and GitHub's message.
   */
  static async start(
    target: DeploymentTarget,
    info: { app: string; version: string; description: string },
  ): Promise<GitHubDeployment> {
    const [owner, repo, ...rest] = target.repository.split('/')
    if (!owner || !repo || rest.length > 0) {
      throw new Error(
        `Could not create a GitHub Deployment: repository '${target.repository}' is not 'owner/repo'.`,
      )
    }
    const octokit = getOctokit(target.token, { baseUrl: target.apiUrl.replace(/\/+$/, '') })
    const env = target.environment

    const data: { id?: unknown; message?: unknown } = await octokit.rest.repos
      .createDeployment({
        owner,
        repo,
        ref: target.ref,
        environment: env,
        auto_merge: false,
        required_contexts: [],
        description: truncate(info.description),
        payload: { version: info.version, app: info.app },
        transient_environment: false,
        request: requestOptions(target),
      })
      .then(
        (res) => res.data,
        (error: unknown) => {
          throw createError(env, error)
        },
      )
    // A 202 {message} ("auto-merged ...") only comes with auto_merge, which is off; be strict anyway.
    if (typeof data.id !== 'number') {
      const message = typeof data.message === 'string' ? `: ${data.message}` : ''
      throw new Error(
        `Could not create a GitHub Deployment for environment '${env}' (GitHub answered without a deployment id${message}).`,
      )
    }
    const id = data.id
    core.info(`Created GitHub Deployment ${id} for environment '${env}'.`)

    const deployment = new GitHubDeployment(octokit, target, owner, repo, id)
    await deployment.status('in_progress')
    return deployment
  }

  /**
   * Marks the Deployment `success` or `failure` (throws when GitHub refuses). After `success`, the
   * environment's older deployments that are still active are marked `inactive` (best effort).
   */
  async finish(state: FinalState, description: string): Promise<void> {
    await this.status(state, description)
    if (state === 'success') await this.deactivatePrevious()
  }

  /** `POST .../deployments/{id}/statuses` for this Deployment. */
  private async status(state: StatusState, description?: string): Promise<void> {
    const { logUrl, url } = this.target
    try {
      await this.octokit.rest.repos.createDeploymentStatus({
        owner: this.owner,
        repo: this.repo,
        deployment_id: this.id,
        state,
        ...(logUrl ? { log_url: logUrl } : {}),
        ...(url ? { environment_url: url } : {}),
        ...(description === undefined ? {} : { description: truncate(description) }),
        auto_inactive: false,
        request: requestOptions(this.target),
      })
    } catch (error) {
      throw new Error(
        `Could not set GitHub Deployment ${this.id} to '${state}' (${describe(error)}).`,
        { cause: error },
      )
    }
  }

  /** Older deployments of this environment whose latest status is active get `inactive`. */
  private async deactivatePrevious(): Promise<void> {
    const { owner, repo, id } = this
    const request = () => requestOptions(this.target)
    let step = 'list the deployments'
    try {
      const { data: deployments } = await this.octokit.rest.repos.listDeployments({
        owner,
        repo,
        environment: this.target.environment,
        per_page: PREVIOUS_DEPLOYMENTS_CHECKED,
        request: request(),
      })
      // Only older ones: a newer deployment belongs to a later run and is not ours to retire.
      for (const previous of deployments.filter((d) => d.id < id)) {
        step = `read the statuses of deployment ${previous.id}`
        const { data: statuses } = await this.octokit.rest.repos.listDeploymentStatuses({
          owner,
          repo,
          deployment_id: previous.id,
          per_page: 1,
          request: request(),
        })
        const latest = statuses[0]?.state
        if (latest === undefined || !ACTIVE_STATES.has(latest)) continue
        step = `mark deployment ${previous.id} inactive`
        await this.octokit.rest.repos.createDeploymentStatus({
          owner,
          repo,
          deployment_id: previous.id,
          state: 'inactive',
          description: `Superseded by deployment ${id}`,
          auto_inactive: false,
          request: request(),
        })
        core.info(`Marked GitHub Deployment ${previous.id} inactive (was ${latest}).`)
      }
    } catch (error) {
      core.warning(
        `GitHub Deployment ${id} succeeded, but could not ${step} of environment ` +
          `'${this.target.environment}' (${describe(error)}); older deployments may still show as active.`,
      )
    }
  }
}

/** Why the Deployment could not be created; for 403/404, how to grant the permission. */
function createError(environment: string, error: unknown): Error {
  const what = `Could not create a GitHub Deployment for environment '${environment}' (${describe(error)}).`
  const status = httpStatus(error)
  const fix =
    status === 403 || status === 404
      ? " Give the job 'permissions: deployments: write' (and 'contents: read'), or leave 'environment' empty to skip Deployments."
      : ''
  return new Error(what + fix, { cause: error })
}

/** `description` cut to GitHub's limit (in characters, not UTF-16 units), ending in '…' if cut. */
export function truncate(description: string, limit = DESCRIPTION_LIMIT): string {
  const chars = Array.from(description)
  return chars.length <= limit ? description : `${chars.slice(0, limit - 1).join('')}…`
}

function requestOptions(target: DeploymentTarget): { signal: AbortSignal } {
  return { signal: AbortSignal.timeout(target.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS) }
}

/** The HTTP status of a GitHub answer, or undefined when no answer came. */
function httpStatus(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const { status, response } = error as { status?: unknown; response?: unknown }
  // Octokit reports network errors as status 500 without a response.
  return typeof status === 'number' && response !== undefined ? status : undefined
}

/** 'HTTP 403: <GitHub's message>', or 'request failed: <reason>' when no answer came. */
function describe(error: unknown): string {
  const status = httpStatus(error)
  if (status !== undefined) {
    const data = (error as { response?: { data?: unknown } }).response?.data
    const message =
      typeof data === 'object' &&
      data !== null &&
      typeof (data as { message?: unknown }).message === 'string'
        ? (data as { message: string }).message
        : typeof data === 'string' && data.trim() !== ''
          ? data.trim().slice(0, 200)
          : 'no message'
    return `HTTP ${status}: ${message}`
  }
  return `request failed: ${error instanceof Error ? error.message : String(error)}`
}
