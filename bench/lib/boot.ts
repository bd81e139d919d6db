/** How long the sample app takes to boot: start `node server.js`, poll /health until it answers. */
import { spawn } from 'node:child_process'
import { freePort } from '../../test/free-port.js'
import { sleep } from './stats.js'

/** Milliseconds from spawning the app in `releaseDir` to its first 200 on /health (5 ms polls). */
export async function appBootMs(releaseDir: string): Promise<number> {
  const port = await freePort()
  const started = performance.now()
  const child = spawn(process.execPath, ['server.js'], {
    cwd: releaseDir,
    env: { PATH: process.env.PATH ?? '', PORT: String(port) },
    stdio: 'ignore',
  })
  try {
    while (performance.now() - started < 10_000) {
      const ok = await fetch(`http://127.0.0.1:${port}/health`).then(
        (r) => r.ok,
        () => false,
      )
      if (ok) return performance.now() - started
      await sleep(5)
    }
    throw new Error('the sample app did not answer /health within 10 s')
  } finally {
    child.kill('SIGKILL')
  }
}
