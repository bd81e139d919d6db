/** `dry-run: true` end to end: the built bundle, run like the GitHub runner, against real hosts. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorLine, runAction } from '../../test/action-runner.js'
import { makeClientKey, startLab, type Lab } from '../../test/hosts/index.js'

let lab: Lab

beforeAll(async () => {
  lab = await startLab({ hosts: 2, name: 'dry-run' })
})

afterAll(async () => {
  await lab?.stop()
})

function inputs(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    hosts: lab.hosts.map((h) => h.address).join('\n'),
    'ssh-key': lab.privateKey,
    'known-hosts': lab.knownHosts,
    'app-name': 'shop',
    'start-command': 'node server.js',
    version: 'v1.0.0',
    'dry-run': 'true',
    ...overrides,
  }
}

describe('dry-run', () => {
  it('checks every host, prints the plan, changes nothing, and exits 0', async () => {
    const { main, post } = await runAction(inputs())
    expect(main.log).not.toContain('::error::')
    expect(main.exitCode).toBe(0)
    expect(main.outputs.status).toBe('planned')
    expect(main.outputs.version).toBe('v1.0.0')
    expect(JSON.parse(main.outputs.hosts!)).toEqual(
      lab.hosts.map((h) => ({
        host: h.address,
        result: 'ready',
        liveSlot: null,
        liveVersion: null,
        targetSlot: 'blue',
        problems: [],
      })),
    )
    for (const host of lab.hosts) {
      expect(main.log).toContain(`::group::plan: ${host.address}`)
      const { stdout } = await host.sh('ls -A /srv')
      expect(stdout).toBe('')
    }
    expect(main.log).toContain(
      'would start the new version on blue (port 3001) from /srv/shop/releases/v1.0.0',
    )
    // process-manager auto (the default) says what it picks on each host, and why.
    expect(main.log).toContain('process-manager auto: builtin (systemd does not run this host)')
    expect(main.summary).toContain('Dry run: all 2 host(s) ready to deploy v1.0.0')
    expect(post.exitCode).toBe(0)
  })

  it('says per host whether a canary will have access log evidence, and why', async () => {
    const [first, second] = lab.hosts
    // Sites that nginx does not load (sites-available), read as the operator's: the first has its
    // own access_log and no canary line, the second inherits the http-level logs.
    const site = (log: string) =>
      `server {\n  listen 80;\n  ${log}\n  location / { proxy_pass http://shop; }\n}\n`
    await first!
      .sh(`mkdir -p /etc/nginx/sites-available && cat > /etc/nginx/sites-available/shop <<'CONF'
${site('access_log /var/log/nginx/shop.log;')}CONF`)
    await second!
      .sh(`mkdir -p /etc/nginx/sites-available && cat > /etc/nginx/sites-available/shop <<'CONF'
${site('')}CONF`)
    try {
      const { main } = await runAction(inputs({ strategy: 'canary' }))
      expect(main.exitCode).toBe(1)
      expect(errorLine(main.log)).toContain(
        `[${first!.address}] canary: /etc/nginx/sites-available/shop proxies to http://shop with an access_log of its own, so it does not inherit the action's and every step would abort (fail closed): add \`access_log /var/log/nginx/shop-canary.log shop_canary;\` to that server block, or set \`canary-max-error-rate: off\` to judge on health checks only`,
      )
      expect(errorLine(main.log)).not.toContain(`[${second!.address}]`)
      expect(main.log).toContain(
        "canary evidence: yes: /etc/nginx/sites-available/shop has no access_log of its own, so it inherits the one the action's include writes to /var/log/nginx/shop-canary.log during a canary",
      )
      const hostsOutput = JSON.parse(main.outputs.hosts!) as { canaryEvidence: boolean }[]
      expect(hostsOutput.map((h) => h.canaryEvidence)).toEqual([false, true])

      const healthOnly = await runAction(
        inputs({ strategy: 'canary', 'canary-max-error-rate': 'off' }),
      )
      expect(healthOnly.main.exitCode).toBe(0)
      expect(healthOnly.main.log).toContain(
        'canary evidence: no: canary-max-error-rate: off: health only',
      )
    } finally {
      for (const host of [first!, second!]) await host.sh('rm -f /etc/nginx/sites-available/shop')
    }
  })

  it('defaults the version to the short commit SHA', async () => {
    const { main } = await runAction(inputs({ version: '', hosts: lab.hosts[0]!.address }))
    expect(main.exitCode).toBe(0)
    expect(main.outputs.version).toBe('c0ffee1')
  })

  it('lists every problem of every host, including one it cannot reach', async () => {
    const [one, two] = lab.hosts
    // host1: something else listens on the blue port; host2: nginx -t fails.
    await one!.sh(`cat > /etc/nginx/conf.d/squatter.conf <<'CONF'
server { listen 127.0.0.1:3001; return 200; }
CONF
nginx -s reload`)
    await two!.sh(`echo 'this is not nginx config;' > /etc/nginx/conf.d/broken.conf`)
    try {
      const { main } = await runAction(
        inputs({
          hosts: [one!.address, two!.address, lab.unusedAddress].join(','),
          'connect-timeout': '2s',
        }),
      )
      expect(main.exitCode).toBe(1)
      expect(main.outputs.status).toBe('failed')
      const error = errorLine(main.log)
      expect(error).toContain('Dry run found 3 problem(s)')
      // The deploy's own rule: the process there is named, and it is not this app's.
      expect(error).toContain(`[${one!.address}] blue-port 3001 is taken: pid `)
      expect(error).toMatch(
        /\(nginx: master process [^)]*\).* listen on it and are not processes of this app/,
      )
      expect(error).toContain(`[${two!.address}] nginx-test-command 'nginx -t' failed (exit 1).`)
      expect(error).toContain('unknown directive')
      expect(error).toContain(
        `[${lab.unusedAddress}] connect: no SSH answer from root@${lab.unusedAddress}:22`,
      )
      expect(main.summary).toContain('Dry run: 3 of 3 host(s) not ready')
    } finally {
      await one!.sh('rm /etc/nginx/conf.d/squatter.conf && nginx -s reload')
      await two!.sh('rm /etc/nginx/conf.d/broken.conf')
    }
  })

  it('rejects bad inputs all at once, before contacting any host', async () => {
    const started = Date.now()
    const { main } = await runAction(
      inputs({
        hosts: `${lab.unusedAddress}:99999`,
        'green-port': '3001',
        'health-path': 'health',
      }),
    )
    expect(main.exitCode).toBe(1)
    expect(Date.now() - started).toBeLessThan(5000)
    const error = errorLine(main.log)
    expect(error).toContain('Invalid inputs (3 problems)')
    expect(error).toContain("Input 'hosts'")
    expect(error).toContain("Input 'green-port'")
    expect(error).toContain("Input 'health-path'")
  })

  it('reports a wrong passphrase as an input problem, without echoing it', async () => {
    const key = await makeClientKey({ passphrase: 'the real one' })
    const { main } = await runAction(
      inputs({ 'ssh-key': key.privateKey, 'ssh-key-passphrase': 'not the passphrase' }),
    )
    expect(main.exitCode).toBe(1)
    expect(main.log).toContain(
      "Input 'ssh-key-passphrase': it does not decrypt 'ssh-key' (wrong passphrase?).",
    )
    // The runner hides ::add-mask:: commands and masks their values everywhere else.
    const shown = main.log.split('\n').filter((line) => !line.startsWith('::add-mask::'))
    expect(main.log).toContain('::add-mask::not the passphrase')
    expect(shown.join('\n')).not.toContain('not the passphrase')
    expect(shown.join('\n')).not.toContain(key.privateKey.split('\n')[1])
  })
})
