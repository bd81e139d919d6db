/** The `build-command` step: runs on the runner, in the workspace, before anything is packed. */
import * as exec from '@actions/exec'

/**
 * Runs `command` (if not blank) with `sh -c` in `cwd`, streaming its output to the log. The
 * environment of the action is passed on unchanged. A non-zero exit throws
 * `build-command failed (exit N): <command>`.
 */
export async function runBuild(command: string, cwd: string): Promise<void> {
  if (command.trim() === '') return
  const exitCode = await exec.exec('sh', ['-c', command], { cwd, ignoreReturnCode: true })
  if (exitCode !== 0) throw new Error(`build-command failed (exit ${exitCode}): ${command}`)
}
