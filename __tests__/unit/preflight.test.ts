/** The dry-run problems about sudo and the upstream file, word for word. */
import { describe, expect, it } from 'vitest'
import { preflightProblems, type CommandCheck } from '../../src/dry-run/host-checks.js'
import { parseProbe } from '../../src/remote/probe.js'
import { testSettings } from '../../test/settings.js'

const settingsWith = (extra: Record<string, string>) =>
  testSettings({
    hosts: 'web1',
    'known-hosts': 'web1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample',
    'process-manager': 'builtin',
    ...extra,
  })
const facts = parseProbe('existing=/srv\nwritable=yes\nuid=1000\n--- port blue\n--- port green\n')
const ok = (command: string): CommandCheck => ({ command, exitCode: 0, stderr: '' })
const refused = (command: string, stderr: string): CommandCheck => ({
  command,
  exitCode: 1,
  stderr,
})
const tee = 'sudo -n tee /etc/nginx/conf.d/shop.upstream.conf'

describe('preflight: sudo and the upstream file', () => {
  it('names the command sudo refused, as the deploy runs it', () => {
    const checks = {
      nginxTest: ok('nginx -t'),
      sudo: refused('sudo -n nginx -s reload', 'sudo: a password is required\n'),
      upstream: ok(tee),
    }
    expect(
      preflightProblems(settingsWith({ sudo: 'true' }), 'deploy', facts, 'blue', checks),
    ).toEqual([
      `sudo would not run 'sudo -n nginx -s reload' for deploy without a password: allow it (see README "Host setup").\nsudo: a password is required`,
    ])
  })

  it('an upstream file the user may not write: with sudo, the tee it needs; without, both ways out', () => {
    const upstream = refused(tee, 'sudo: a password is required\n')
    const checks = { nginxTest: ok('nginx -t'), upstream }
    expect(
      preflightProblems(settingsWith({ sudo: 'true' }), 'deploy', facts, 'blue', checks),
    ).toEqual([
      `deploy may not write /etc/nginx/conf.d/shop.upstream.conf, and sudo would not run '${tee}' without a password: give deploy the file or allow that command (see README "Host setup").\nsudo: a password is required`,
    ])
    expect(preflightProblems(settingsWith({}), 'deploy', facts, 'blue', checks)).toEqual([
      `deploy may not write /etc/nginx/conf.d/shop.upstream.conf: give deploy the file, or set sudo: true and allow '${tee}' (see README "Host setup").`,
    ])
  })

  it('a managed site file (nginx-site) the user may not write: the same, for that file', () => {
    const siteTee = 'sudo -n tee /etc/nginx/conf.d/shop.site.conf'
    const checks = {
      nginxTest: ok('nginx -t'),
      upstream: ok(tee),
      site: refused(siteTee, 'sudo: a password is required\n'),
    }
    const settings = settingsWith({ sudo: 'true', 'nginx-site': 'shop.example.com' })
    expect(preflightProblems(settings, 'deploy', facts, 'blue', checks)).toEqual([
      `deploy may not write /etc/nginx/conf.d/shop.site.conf, and sudo would not run '${siteTee}' without a password: give deploy the file or allow that command (see README "Host setup").\nsudo: a password is required`,
    ])
  })
})
