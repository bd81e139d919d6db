/** Runs a tool's command line in a folder, timed; throws with the output's tail when it fails. */
import { run, type RunResult } from '../../test/hosts/exec.js'

export async function timedCommand(
  cwd: string,
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 120_000,
): Promise<{ ms: number; result: RunResult }> {
  const started = performance.now()
  // `cd "$0" && exec "$@"`: the folder and argv stay separate words, no quoting needed.
  const result = await run(['sh', '-c', 'cd "$0" && exec "$@"', cwd, ...argv], { env, timeoutMs })
  return { ms: performance.now() - started, result }
}
