/**
 * A non-root login with `sudo: true` and exactly the sudoers lines README.md documents (taken
 * from the README, so the test fails when it drifts): blue-green deploys and a rollback, first
 * with the upstream file owned by the user, then in the tighter setup where the user owns nothing
 * under /etc/nginx and the action writes the file through `sudo -n tee`. Hosts that run systemd,
 * where tests may add users and sudoers files; the slots run under the built-in manager.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorLine, runAction } from '../../test/action-runner.js'
import { addSite, deployInputs, makeRelease, servedVersion } from '../../test/deploy-fixture.js'
import { startLab, type Lab, type LabHost } from '../../test/hosts/index.js'
import { readmeBlock } from '../../test/readme.js'

const UPSTREAM = '/etc/nginx/conf.d/shop.upstream.conf'

let lab: Lab

beforeAll(async () => {
  lab = await startLab({ hosts: 2, name: 'sudo', systemd: true })
})

afterAll(async () => {
  await lab?.stop()
})

/** Adds user `deploy` owning /srv/shop (and the upstream file when asked), with these sudoers. */
async function addDeployUser(host: LabHost, sudoers: string, ownsUpstream: boolean) {
  await host.sh(`set -e
echo 'deploy:x:1500:1500:deploy:/srv:/bin/sh' >> /etc/passwd
echo 'deploy:*:19000:0:99999:7:::' >> /etc/shadow
echo 'deploy:x:1500:' >> /etc/group
install -d -o deploy -g deploy /srv/shop
${ownsUpstream ? `install -o deploy -m 644 /dev/null ${UPSTREAM}` : `rm -f ${UPSTREAM}`}`)
  await setSudoers(host, sudoers)
}

async function setSudoers(host: LabHost, sudoers: string) {
  await host.sh(`set -e
cat > /etc/sudoers.d/deploy-nginx <<'SUDOERS'
${sudoers}SUDOERS
chmod 440 /etc/sudoers.d/deploy-nginx
visudo -cq`)
}

function asDeploy(host: LabHost, version: string, extra: Record<string, string> = {}) {
  const release = version === 'rollback' ? '.' : makeRelease(version)
  return runAction(
    deployInputs(lab, [host], release, {
      ...(version === 'rollback' ? { rollback: 'true' } : { version }),
      ...{ hosts: `deploy@${host.address}`, sudo: 'true', 'process-manager': 'builtin' },
      ...extra,
    }),
  )
}

/** Files and directories under /etc/nginx that user deploy owns. */
async function ownedByDeploy(host: LabHost): Promise<string> {
  return (await host.sh('find /etc/nginx -user deploy')).stdout
}

describe('non-root login with the README sudoers lines', () => {
  it('names fixed binaries with fixed arguments, no shell', () => {
    const lines = `${readmeBlock('sudoers-nginx')}${readmeBlock('sudoers-nginx-upstream')}`
    expect(lines).toContain('/usr/sbin/nginx -t, /usr/sbin/nginx -s reload')
    expect(lines).toContain(`/usr/bin/tee ${UPSTREAM}`)
    expect(lines).not.toMatch(/\bsh\b|\*/)
  })

  it('the user owns the upstream file: dry-run, v1, v2, rollback', async () => {
    const host = lab.hosts[0]!
    await addDeployUser(host, readmeBlock('sudoers-nginx'), true)
    const dry = await asDeploy(host, 'v1', { 'dry-run': 'true' })
    expect(errorLine(dry.main.log)).toBe('')
    expect(dry.main.outputs.status).toBe('planned')
    for (const version of ['v1', 'v2']) {
      const run = await asDeploy(host, version)
      expect(errorLine(run.main.log)).toBe('')
      expect(run.main.outputs.status).toBe('deployed')
      if (version === 'v1') await addSite(host, 'shop')
    }
    expect(await servedVersion(host)).toBe('v2')
    const back = await asDeploy(host, 'rollback')
    expect(errorLine(back.main.log)).toBe('')
    expect(back.main.outputs).toMatchObject({ status: 'rolled-back', version: 'v1' })
    expect(await servedVersion(host)).toBe('v1')
    expect(await ownedByDeploy(host)).toBe(`${UPSTREAM}\n`)
  })

  it('the user owns nothing under /etc/nginx: the upstream file goes through sudo tee, restores too', async () => {
    const host = lab.hosts[1]!
    await addDeployUser(host, readmeBlock('sudoers-nginx'), false)
    // Without the tee line, dry-run names what is missing.
    const missing = await asDeploy(host, 'v1', { 'dry-run': 'true' })
    expect(missing.main.exitCode).toBe(1)
    expect(missing.main.log).toContain(
      `[${host.address}] deploy may not write ${UPSTREAM}, and sudo would not run 'sudo -n tee ${UPSTREAM}' without a password: give deploy the file or allow that command (see README "Host setup").`,
    )
    await setSudoers(
      host,
      `${readmeBlock('sudoers-nginx')}${readmeBlock('sudoers-nginx-upstream')}`,
    )
    const dry = await asDeploy(host, 'v1', { 'dry-run': 'true' })
    expect(errorLine(dry.main.log)).toBe('')
    expect(dry.main.outputs.status).toBe('planned')

    // A test command sudo does not allow fails the switch; the file that did not exist before
    // the run is left empty (through sudo tee, as the user may not remove it).
    const notAllowed = { 'nginx-test-command': 'nginx -t -q' }
    const first = await asDeploy(host, 'v1', notAllowed)
    expect(first.main.exitCode).toBe(1)
    expect(errorLine(first.main.log)).toContain(
      `[${host.address}] switch: install upstream and test nginx: command exited 1`,
    )
    expect(errorLine(first.main.log)).toContain('sudo: a password is required')
    expect((await host.sh(`stat -c '%U %s' ${UPSTREAM}`)).stdout).toBe('root 0\n')

    const v1 = await asDeploy(host, 'v1')
    expect(errorLine(v1.main.log)).toBe('')
    await addSite(host, 'shop')
    const v2 = await asDeploy(host, 'v2')
    expect(errorLine(v2.main.log)).toBe('')
    expect(await servedVersion(host)).toBe('v2')
    const back = await asDeploy(host, 'rollback')
    expect(errorLine(back.main.log)).toBe('')
    expect(back.main.outputs).toMatchObject({ status: 'rolled-back', version: 'v1' })
    expect(await servedVersion(host)).toBe('v1')

    // A failed switch puts the file from before the run back, through sudo tee.
    const before = (await host.sh(`cat ${UPSTREAM}`)).stdout
    expect(before).toContain('upstream shop')
    const v3 = await asDeploy(host, 'v3', notAllowed)
    expect(v3.main.exitCode).toBe(1)
    expect((await host.sh(`cat ${UPSTREAM}`)).stdout).toBe(before)
    expect(await servedVersion(host)).toBe('v1')
    expect((await host.sh(`stat -c '%U %a' ${UPSTREAM}`)).stdout).toBe('root 644\n')
    expect(await ownedByDeploy(host)).toBe('')
  })
})
