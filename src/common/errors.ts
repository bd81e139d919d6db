/** Errors that name where they happened, so a failed run tells the operator host and step. */

/** A failure on one host during one step. */
export class HostError extends Error {
  constructor(
    readonly host: string,
    readonly step: string,
    readonly detail: string,
  ) {
    super(`[${host}] ${step}: ${detail}`)
    this.name = 'HostError'
  }
}

/** A remote command that exited non-zero; the message carries the last lines of its stderr. */
export class RemoteCommandError extends HostError {
  constructor(
    host: string,
    step: string,
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    const tail = lastLines(stderr, 10)
    const status = exitCode === null ? 'was cut off (connection lost)' : `exited ${exitCode}`
    super(host, step, `command ${status}${tail ? `:\n${tail}` : ''}`)
    this.name = 'RemoteCommandError'
  }
}

/** Several hosts failed; all of them are named. */
export class MultiHostError extends Error {
  constructor(readonly errors: Error[]) {
    super(errors.map((e) => e.message).join('\n'))
    this.name = 'MultiHostError'
  }
}

export function lastLines(text: string, count: number): string {
  const lines = text.replace(/\s+$/, '').split('\n')
  return lines.slice(-count).join('\n')
}

/** The message without the `[host]` prefix, for lists that are already grouped by host. */
export function messageWithoutHost(error: unknown): string {
  return error instanceof HostError ? `${error.step}: ${error.detail}` : errorMessage(error)
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
