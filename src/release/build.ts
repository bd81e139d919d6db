/** The `build-command` step: runs on the runner, in the workspace, before anything is packed. */
import * as exec from '@actions/exec'
import { errorMessage } from '../common/errors.js'

/**
 * Runs `command` (if not blank) with `sh -c` in `cwd`, streaming its output to the log. The
 * environment of the action is passed on unchanged. A non-zero exit throws
 * `build-command failed (exit N): <command>`.
 */
export async function runBuild(command: string, cwd: string): Promise<void> {
  if (command.trim() === '') return
  const exitCode = await shellOnRunner('build-command', command, { cwd, ignoreReturnCode: true })
  if (exitCode !== 0) throw new Error(`build-command failed (exit ${exitCode}): ${command}`)
}

/**
 * Runs a user command on the runner with `sh -c` and returns its exit code. `sh` is the one
 * program the action needs on the runner (everything else is Node in the bundle); without it on
 * PATH (a Windows runner without Git for Windows' `bin` on PATH) the error says so, naming `input`.
 */
export async function shellOnRunner(
  input: 'build-command' | 'smoke-command' | 'watch-check-command',
  command: string,
  options: exec.ExecOptions,
): Promise<number> {
  try {
    return await exec.exec('sh', ['-c', command], options)
  } catch (error) {
    if (!/Unable to locate executable file: sh\b/.test(errorMessage(error))) throw error
    throw new Error(
      `${input} runs with 'sh -c' on the runner, and there is no sh on its PATH (Linux and ` +
        `macOS runners have one; on Windows put Git for Windows' bin directory on PATH, or run ` +
        `the command in a step of its own: README "Supported runners"): ${command}`,
      { cause: error },
    )
  }
}
