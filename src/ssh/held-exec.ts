/**
 * A command that answers, then stays running for as long as its channel is open (the prepare
 * block: the deploy lock held by the same command that read the state). The lock stays tied to
 * the connection exactly as with holdLock: closing stdin, ending the run or losing the connection
 * frees it.
 */
import { StringDecoder } from 'node:string_decoder'
import { RemoteCommandError } from '../common/errors.js'
import type { Shell } from '../remote/shell.js'
import type { Host } from './host.js'

export interface Held<T> {
  /** What `ready` made of the output. */
  value: T
  /** Closes the command's stdin and waits until it exited (the host let go of the lock). */
  release(): Promise<void>
}

/**
 * Starts `command` and resolves once `ready` returns a value for the output so far; rejects with
 * a RemoteCommandError (exit code, stderr tail) when the command ends before that. `onOutput`
 * sees the output as it grows (to report `WAITING` lines).
 */
export async function holdCommand<T>(
  host: Pick<Host, 'name' | 'openExec'>,
  command: Shell,
  step: string,
  ready: (stdout: string) => T | undefined,
  onOutput: (stdout: string) => void = () => {},
): Promise<Held<T>> {
  const channel = await host.openExec(command, step)
  return new Promise((resolve, reject) => {
    const out = new StringDecoder('utf8')
    const err = new StringDecoder('utf8')
    let stdout = ''
    let stderr = ''
    let done = false
    // The exit code comes with 'close' (an 'exit' event may fire before listeners exist).
    const closed = new Promise<void>((settle) =>
      channel.on('close', (code: number | null | undefined) => {
        if (!done) {
          done = true
          reject(
            new RemoteCommandError(host.name, step, typeof code === 'number' ? code : null, stderr),
          )
        }
        settle()
      }),
    )
    channel.stderr.on('data', (chunk: Buffer) => (stderr += err.write(chunk)))
    channel.on('data', (chunk: Buffer) => {
      stdout += out.write(chunk)
      if (done) return
      onOutput(stdout)
      const value = ready(stdout)
      if (value === undefined) return
      done = true
      resolve({
        value,
        release: async () => {
          channel.end()
          await closed
        },
      })
    })
  })
}
