/**
 * Hostile input and secrets, end to end (a first part of issue 8): shell metacharacters in the
 * deploy path and in env values run nothing that was not meant to (canary files on the host), and
 * the key, its passphrase, the token and secret-env values never appear in the log, outputs or
 * summary.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { errorLine, runAction, type StepResult } from '../../test/action-runner.js'
import { deployInputs, makeRelease } from '../../test/deploy-fixture.js'
import { makeClientKey, startLab, type Lab, type LabHost } from '../../test/hosts/index.js'

let lab: Lab
let host: LabHost

const deployPath = "/srv/it's;`touch${IFS}/srv/pwned-path`&$(id)"
const env = {
  SUBSTITUTION: '$(touch /srv/pwned-env1)',
  BACKTICKS: '`touch /srv/pwned-env2`',
  // (A value wrapped in one pair of quotes loses them, as in dotenv files; this one is not.)
  QUOTES: "it's'; touch /srv/pwned-env3; echo '",
}
/** In `secret-env`: masked (`env` values are not: masking plain values garbles the log). */
const secretEnv = { DATABASE_PASSWORD: 'correct-horse-battery-staple' }
const token = 'ghs_0123456789abcdefSECRETTOKEN'
const passphrase = 'open sesame 42'

beforeAll(async () => {
  lab = await startLab({ hosts: 1, name: 'hostile' })
  host = lab.hosts[0]!
})

afterAll(async () => {
  await lab?.stop()
})

/** Everything a run shows: the log (without the ::add-mask:: commands), outputs and summary. */
function shown(step: StepResult): string {
  const log = step.log
    .split('\n')
    .filter((line) => !line.startsWith('::add-mask::'))
    .join('\n')
  return [log, JSON.stringify(step.outputs), step.summary].join('\n')
}

it('runs nothing hidden in the deploy path or env values, and shows no secret', async () => {
  const key = await makeClientKey({ passphrase })
  host.authorize(key.publicKey)
  const inputs = (version: string, behaviour?: Record<string, unknown>) =>
    deployInputs(lab, [host], makeRelease(version, behaviour), {
      version,
      'deploy-path': deployPath,
      'ssh-key': key.privateKey,
      'ssh-key-passphrase': passphrase,
      'github-token': token,
      env: Object.entries(env)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n'),
      'secret-env': `DATABASE_PASSWORD=${secretEnv.DATABASE_PASSWORD}`,
      'health-timeout': '3s',
    })

  const good = await runAction(inputs('h1'))
  expect(errorLine(good.main.log)).toBe('')
  expect(good.main.outputs.status).toBe('deployed')
  const bad = await runAction(inputs('h2', { healthStatus: 503 }))
  expect(bad.main.outputs.status).toBe('failed')

  // Nothing ran that was not meant to.
  const { stdout: canaries } = await host.sh("find /srv -name 'pwned-*' -type f")
  expect(canaries).toBe('')
  // The values reach the app literally.
  const { stdout: values } = await host.sh(
    `f=$(find /srv -path '*/shared/.env'); set -a; . "$f"; printf '%s\\n' "$SUBSTITUTION" "$BACKTICKS" "$QUOTES"`,
  )
  expect(values).toBe(`${env.SUBSTITUTION}\n${env.BACKTICKS}\n${env.QUOTES}\n`)

  // No secret is shown anywhere (the runner masks them too, but they must not be there at all).
  const secrets = [
    passphrase,
    token,
    secretEnv.DATABASE_PASSWORD,
    ...key.privateKey.split('\n').filter((line) => line.length > 20 && !line.startsWith('-----')),
  ]
  for (const step of [good.main, good.post, bad.main, bad.post]) {
    const text = shown(step)
    for (const secret of secrets) expect(text).not.toContain(secret)
  }
  // ... and every one of them was handed to the runner for masking.
  for (const secret of [passphrase, token, secretEnv.DATABASE_PASSWORD]) {
    expect(good.main.log).toContain(`::add-mask::${secret}`)
  }
})
