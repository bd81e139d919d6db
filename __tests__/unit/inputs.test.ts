import { describe, expect, it } from 'vitest'
import { parseDuration } from '../../src/inputs/duration.js'
import { INPUT_DEFAULTS } from '../../src/inputs/defaults.js'
import { parseInputs } from '../../src/inputs/parse.js'
import { secretValues } from '../../src/inputs/read-settings.js'
import { InputError } from '../../src/inputs/reader.js'
import type { HostAddress, Settings } from '../../src/inputs/settings.js'

/** PEM armour built at run time, so no key-shaped literal sits in the repository. */
function pem(label: string, body: string): string {
  return [`-----BEGIN ${label}-----`, body, `-----END ${label}-----`].join('\n')
}

/** An OpenSSH key container with the given cipher: enough for the parser, useless as a key. */
function fakeOpenSshKey(cipher: string): string {
  const name = Buffer.from(cipher, 'latin1')
  const length = Buffer.alloc(4)
  length.writeUInt32BE(name.length)
  const magic = Buffer.from('openssh-key-v1\0', 'latin1')
  return pem(
    'OPENSSH PRIVATE KEY',
    Buffer.concat([magic, length, name, Buffer.alloc(20)]).toString('base64'),
  )
}

const KEY = fakeOpenSshKey('none')
const KNOWN_HOSTS = 'web1.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample'

/** The inputs without a usable default. */
const REQUIRED: Record<string, string> = {
  hosts: 'web1.example.com',
  'ssh-key': KEY,
  'known-hosts': KNOWN_HOSTS,
  'app-name': 'shop',
  'start-command': 'node server.js',
}

function parse(overrides: Record<string, string> = {}): Settings {
  const values: Record<string, string> = { ...REQUIRED, ...overrides }
  return parseInputs((name) => values[name] ?? '')
}

function problemsOf(overrides: Record<string, string>): readonly string[] {
  try {
    parse(overrides)
  } catch (error) {
    if (error instanceof InputError) return error.problems
    throw error
  }
  return []
}

const host = (h: string, port = 22, user = 'root', label = h): HostAddress => ({
  user,
  host: h,
  port,
  label,
})

describe('parseInputs', () => {
  it('applies every default to a minimal configuration', () => {
    expect(parse()).toEqual({
      hosts: [{ user: 'root', host: 'web1.example.com', port: 22, label: 'web1.example.com' }],
      ssh: {
        user: 'root',
        port: 22,
        privateKey: `${KEY}\n`,
        passphrase: '',
        knownHosts: KNOWN_HOSTS,
        insecureIgnoreHostKey: false,
        proxyJump: undefined,
        proxyKey: '',
        proxyPassphrase: '',
        proxyKnownHosts: '',
        connectTimeoutMs: 20_000,
        maxParallel: 10,
      },
      app: {
        name: 'shop',
        deployPath: '/srv/shop',
        version: '',
        buildCommand: '',
        releasePath: '.',
        artifactUrl: '',
        exclude: [],
        assetPaths: [],
        artifactSha256: '',
        artifactToken: '',
        startCommand: 'node server.js',
        stopCommand: '',
        reloadCommand: '',
        env: {},
        secretEnv: {},
        migrateCommand: '',
        postDeployCommand: '',
        smokeCommand: '',
        processManager: 'auto',
        keepReleases: 5,
      },
      workers: { commands: [], stopCommand: '', stopTimeoutMs: 30_000, hosts: [] },
      strategy: 'blue-green',
      rolling: {
        batchSize: { kind: 'count', value: 1 },
        loadBalancer: undefined,
        lbUpstreamFile: '/etc/nginx/conf.d/shop.lb.conf',
        lbBackendPort: 80,
        onFailure: 'rollback',
      },
      canary: {
        weights: [10, 50, 100],
        stepDurationMs: 60_000,
        maxErrorRate: 0.01,
        minRequests: 20,
        maxLatencyMs: null,
        hosts: undefined,
        stickyCookie: '',
        checkCommand: '',
        accessLog: '/var/log/nginx/shop-canary.log',
      },
      watch: {
        durationMs: 0,
        maxErrorRate: 0.05,
        minRequests: 20,
        maxLatencyMs: null,
        checkCommand: '',
      },
      slots: {
        bluePort: 3001,
        greenPort: 3002,
        drainTimeoutMs: 30_000,
        stopTimeoutMs: 10_000,
        keepPrevious: 'stop',
      },
      health: { path: '/health', versionPath: '', timeoutMs: 60_000, intervalMs: 1000 },
      nginx: {
        upstreamFile: '/etc/nginx/conf.d/shop.upstream.conf',
        testCommand: 'nginx -t',
        reloadCommand: 'nginx -s reload',
        verifyPort: 3003,
      },
      site: { serverNames: [], listen: '80', file: '/etc/nginx/conf.d/shop.site.conf' },
      sudo: false,
      force: false,
      lockTimeoutMs: 300_000,
      rollback: { enabled: false, toVersion: '' },
      github: { environment: '', url: '', token: '' },
      dryRun: false,
    } satisfies Settings)
  })

  it('reads every input when all are set', () => {
    const values: Record<string, string> = {
      hosts: 'deploy@web1.example.com:2222\nweb2.example.com',
      'ssh-user': 'app',
      'ssh-port': '2200',
      'ssh-key': fakeOpenSshKey('aes256-ctr').replaceAll('\n', '\r\n'),
      'ssh-key-passphrase': 'correct horse',
      'known-hosts': `# from ssh-keyscan\n${KNOWN_HOSTS}\n@cert-authority *.example.com ssh-ed25519 AAAAC3Nz`,
      'insecure-ignore-host-key': 'no',
      'proxy-jump': 'jump@bastion.example.com',
      'proxy-key': fakeOpenSshKey('aes256-ctr'),
      'proxy-key-passphrase': 'battery staple',
      'proxy-known-hosts': 'bastion.example.com SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s',
      'connect-timeout': '45',
      'max-parallel': '4',
      'app-name': 'shop_api-2',
      'deploy-path': '/opt/shop',
      version: 'v1.2.3+build.7',
      'build-command': 'npm ci && npm run build',
      'release-path': '.',
      'artifact-url': 'https://example.com/shop.tar.gz',
      exclude: '',
      'asset-path': 'public/assets/\n.next/static, priv/static/assets',
      'artifact-sha256': 'E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855',
      'artifact-token': 'ghp_artifact-token.1',
      'start-command': 'node server.js',
      'stop-command': 'kill -TERM "$(cat app.pid)"',
      'reload-command': 'kill -USR2 1',
      env: 'NODE_ENV=production\n# comment\n\nDATABASE_URL="postgres://db/shop"\nEMPTY=',
      'secret-env': 'API_TOKEN=tok-123',
      'migrate-command': 'npm run migrate',
      'post-deploy-command': 'npm run contract',
      'smoke-command': 'npm run smoke',
      'process-manager': 'systemd',
      'keep-releases': '3',
      'worker-command':
        '# the queues\njobs: bundle exec sidekiq -C config/sidekiq.yml\n\n  mail-2 :  node mail.js --queue "a: b"',
      'worker-stop-command': 'kill -TSTP "$WORKER_PID"',
      'worker-stop-timeout': '1m',
      'worker-hosts': 'jobs1.example.com, deploy@jobs2:22',
      strategy: 'canary',
      'batch-size': '50%',
      'load-balancer': 'lb.example.com:2022',
      'lb-upstream-file': '/etc/nginx/conf.d/lb.conf',
      'lb-backend-port': '8080',
      'nginx-verify-port': '9100',
      'nginx-site': 'shop.example.com www.shop.example.com,\n*.shop.example.org',
      'nginx-site-listen': '[::]:8080',
      'nginx-site-file': '/etc/nginx/sites-enabled/shop',
      'on-failure': 'stop',
      'canary-weight': '5, 25, 100',
      'canary-step-duration': '2m30s',
      'canary-max-error-rate': '0.5%',
      'canary-min-requests': '100',
      'canary-hosts': '1',
      'canary-sticky-cookie': 'shop_canary',
      'canary-check-command': './check.sh',
      'canary-access-log': '/var/log/nginx/shop.upstream.log',
      'canary-max-latency': '2.5s',
      watch: '1m30s',
      'watch-max-error-rate': 'off',
      'watch-min-requests': '0',
      'watch-max-latency': '800ms',
      'watch-check-command': './prom-query.sh',
      'blue-port': '8001',
      'green-port': '8002',
      'health-path': '/healthz?full=1',
      'version-path': '/version',
      'health-timeout': '2m',
      'health-interval': '500ms',
      'drain-timeout': '0',
      'stop-timeout': '15s',
      'keep-previous': 'warm',
      'nginx-upstream-file': '/etc/nginx/shop.conf',
      'nginx-test-command': 'systemctl is-active nginx && nginx -t',
      'nginx-reload-command': 'systemctl reload nginx',
      sudo: 'true',
      force: 'on',
      'lock-timeout': '1h',
      rollback: 'false',
      'rollback-to': '',
      environment: 'production',
      url: 'https://shop.example.com',
      'github-token': 'ghs_token',
      'dry-run': 'yes',
    }
    expect(Object.keys(values).sort()).toEqual(Object.keys(INPUT_DEFAULTS).sort())
    expect(parseInputs((name) => values[name] ?? '')).toEqual({
      hosts: [
        host('web1.example.com', 2222, 'deploy', 'web1.example.com:2222'),
        host('web2.example.com', 2200, 'app', 'web2.example.com:2200'),
      ],
      ssh: {
        user: 'app',
        port: 2200,
        privateKey: `${fakeOpenSshKey('aes256-ctr')}\n`,
        passphrase: 'correct horse',
        knownHosts: values['known-hosts'],
        insecureIgnoreHostKey: false,
        proxyJump: host('bastion.example.com', 2200, 'jump', 'bastion.example.com:2200'),
        proxyKey: `${fakeOpenSshKey('aes256-ctr')}\n`,
        proxyPassphrase: 'battery staple',
        proxyKnownHosts: values['proxy-known-hosts'],
        connectTimeoutMs: 45_000,
        maxParallel: 4,
      },
      app: {
        name: 'shop_api-2',
        deployPath: '/opt/shop',
        version: 'v1.2.3+build.7',
        buildCommand: 'npm ci && npm run build',
        releasePath: '.',
        artifactUrl: 'https://example.com/shop.tar.gz',
        exclude: [],
        assetPaths: ['public/assets', '.next/static', 'priv/static/assets'],
        artifactSha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
        artifactToken: 'ghp_artifact-token.1',
        startCommand: 'node server.js',
        stopCommand: 'kill -TERM "$(cat app.pid)"',
        reloadCommand: 'kill -USR2 1',
        env: { NODE_ENV: 'production', DATABASE_URL: 'postgres://db/shop', EMPTY: '' },
        secretEnv: { API_TOKEN: 'tok-123' },
        migrateCommand: 'npm run migrate',
        postDeployCommand: 'npm run contract',
        smokeCommand: 'npm run smoke',
        processManager: 'systemd',
        keepReleases: 3,
      },
      workers: {
        commands: [
          { name: 'jobs', command: 'bundle exec sidekiq -C config/sidekiq.yml' },
          { name: 'mail-2', command: 'node mail.js --queue "a: b"' },
        ],
        stopCommand: 'kill -TSTP "$WORKER_PID"',
        stopTimeoutMs: 60_000,
        hosts: [
          host('jobs1.example.com', 2200, 'app', 'jobs1.example.com:2200'),
          host('jobs2', 22, 'deploy'),
        ],
      },
      strategy: 'canary',
      rolling: {
        batchSize: { kind: 'percent', value: 50 },
        loadBalancer: host('lb.example.com', 2022, 'app', 'lb.example.com:2022'),
        lbUpstreamFile: '/etc/nginx/conf.d/lb.conf',
        lbBackendPort: 8080,
        onFailure: 'stop',
      },
      canary: {
        weights: [5, 25, 100],
        stepDurationMs: 150_000,
        maxErrorRate: 0.005,
        minRequests: 100,
        maxLatencyMs: 2500,
        hosts: { kind: 'count', value: 1 },
        stickyCookie: 'shop_canary',
        checkCommand: './check.sh',
        accessLog: '/var/log/nginx/shop.upstream.log',
      },
      watch: {
        durationMs: 90_000,
        maxErrorRate: null,
        minRequests: 0,
        maxLatencyMs: 800,
        checkCommand: './prom-query.sh',
      },
      slots: {
        bluePort: 8001,
        greenPort: 8002,
        drainTimeoutMs: 0,
        stopTimeoutMs: 15_000,
        keepPrevious: 'warm',
      },
      health: {
        path: '/healthz?full=1',
        versionPath: '/version',
        timeoutMs: 120_000,
        intervalMs: 500,
      },
      nginx: {
        upstreamFile: '/etc/nginx/shop.conf',
        testCommand: 'systemctl is-active nginx && nginx -t',
        reloadCommand: 'systemctl reload nginx',
        verifyPort: 9100,
      },
      site: {
        serverNames: ['shop.example.com', 'www.shop.example.com', '*.shop.example.org'],
        listen: '[::]:8080',
        file: '/etc/nginx/sites-enabled/shop',
      },
      sudo: true,
      force: true,
      lockTimeoutMs: 3_600_000,
      rollback: { enabled: false, toVersion: '' },
      github: { environment: 'production', url: 'https://shop.example.com', token: 'ghs_token' },
      dryRun: true,
    } satisfies Settings)
  })

  it('treats the values action.yml passes as defaults like unset inputs', () => {
    const runnerStyle = (name: string) =>
      REQUIRED[name] ?? INPUT_DEFAULTS[name as keyof typeof INPUT_DEFAULTS] ?? ''
    const withDefaults = parseInputs((name) => runnerStyle(name).replace('${{ github.token }}', ''))
    expect(withDefaults).toEqual(parse())
  })
})

describe('hosts', () => {
  it.each<[string, HostAddress[]]>([
    ['web1', [host('web1')]],
    ['Web1.Example.COM', [host('web1.example.com')]],
    ['deploy@web1', [host('web1', 22, 'deploy')]],
    ['web1:2222', [host('web1', 2222, 'root', 'web1:2222')]],
    ['deploy@10.0.0.5:2222', [host('10.0.0.5', 2222, 'deploy', '10.0.0.5:2222')]],
    ['[2001:db8::1]:2222', [host('2001:db8::1', 2222, 'root', '[2001:db8::1]:2222')]],
    ['deploy@[2001:db8::1]', [host('2001:db8::1', 22, 'deploy')]],
    ['2001:db8::1', [host('2001:db8::1')]],
    ['::1', [host('::1')]],
    ['web1,web2', [host('web1'), host('web2')]],
    ['web1, web2 ,\n\n web3\n', [host('web1'), host('web2'), host('web3')]],
    ['web1\r\nweb2', [host('web1'), host('web2')]],
    ['web1 web2', [host('web1'), host('web2')]],
    ['web1,web1:2222', [host('web1'), host('web1', 2222, 'root', 'web1:2222')]],
  ])('parses %j', (hosts, expected) => {
    expect(parse({ hosts }).hosts).toEqual(expected)
  })

  it('uses ssh-user and ssh-port for hosts without user@ or :port', () => {
    const settings = parse({ hosts: 'web1\nops@web2:22', 'ssh-user': 'deploy', 'ssh-port': '2200' })
    expect(settings.hosts).toEqual([
      host('web1', 2200, 'deploy', 'web1:2200'),
      host('web2', 22, 'ops', 'web2'),
    ])
  })
})

describe('values', () => {
  it.each([
    ['true', true],
    ['TRUE', true],
    ['Yes', true],
    ['on', true],
    ['1', true],
    ['false', false],
    ['No', false],
    ['OFF', false],
    ['0', false],
  ])('reads boolean %j', (text, expected) => {
    expect(parse({ 'dry-run': text }).dryRun).toBe(expected)
  })

  it.each([
    ['30s', 30_000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['500ms', 500],
    ['1m30s', 90_000],
    ['1h2m3s', 3_723_000],
    ['1.5s', 1500],
    ['45', 45_000],
    ['0', 0],
  ])('reads duration %j', (text, ms) => {
    expect(parseDuration(text)).toBe(ms)
  })

  it.each(['', 'abc', '-5s', '5 s', '30S', '1d', '30s1m', 's', '1.s', '1m1m'])(
    'rejects duration %j',
    (text) => {
      expect(parseDuration(text)).toBeUndefined()
    },
  )

  it('reads counts, percentages and error rates', () => {
    const settings = parse({
      hosts: 'web1 web2 web3 web4',
      'batch-size': '3',
      'canary-hosts': '25%',
      'canary-max-error-rate': '2',
    })
    expect(settings.rolling.batchSize).toEqual({ kind: 'count', value: 3 })
    expect(settings.canary.hosts).toEqual({ kind: 'percent', value: 25 })
    expect(settings.canary.maxErrorRate).toBe(0.02)
    expect(parse({ 'canary-max-error-rate': '0' }).canary.maxErrorRate).toBe(0)
    // `off`: the explicit choice not to judge the error rate (null).
    expect(parse({ 'canary-max-error-rate': 'off' }).canary.maxErrorRate).toBeNull()
    expect(parse({ 'watch-max-error-rate': 'off' }).watch.maxErrorRate).toBeNull()
    expect(parse({ 'watch-max-error-rate': '0.5%' }).watch.maxErrorRate).toBe(0.005)
  })

  it('reads env in order, strips one pair of quotes and keeps odd keys as plain data', () => {
    const env = parse({
      env: "# app\nB=2\nA = 'one two'\n__proto__=x\nURL=https://x/?a=b=c\nQ=\"unbalanced'",
    }).app.env
    expect(Object.keys(env)).toEqual(['B', 'A', '__proto__', 'URL', 'Q'])
    expect(env).toEqual({
      B: '2',
      A: 'one two',
      ['__proto__']: 'x',
      URL: 'https://x/?a=b=c',
      Q: '"unbalanced\'',
    })
    expect(Object.getPrototypeOf(env)).toBe(Object.prototype)
  })

  it('derives paths from app-name', () => {
    const settings = parse({ 'app-name': 'blog' })
    expect(settings.app.deployPath).toBe('/srv/blog')
    expect(settings.nginx.upstreamFile).toBe('/etc/nginx/conf.d/blog.upstream.conf')
    expect(settings.rolling.lbUpstreamFile).toBe('/etc/nginx/conf.d/blog.lb.conf')
  })

  it('takes rollback-to as a rollback, which needs no start-command', () => {
    const settings = parse({ 'rollback-to': 'v1.2.2', 'start-command': '' })
    expect(settings.rollback).toEqual({ enabled: true, toVersion: 'v1.2.2' })
    expect(parse({ rollback: 'true', 'start-command': '' }).rollback.enabled).toBe(true)
  })

  it('accepts SHA256 fingerprint pins in known-hosts, bare, for named hosts, or as ssh-keygen -l prints them', () => {
    const print = 'SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s'
    const pins = [
      print,
      `web1.example.com,web2.example.com ${print}`,
      `256 ${print} root@web1 (ED25519)`,
      `${print}=`,
    ].join('\n')
    expect(parse({ 'known-hosts': pins }).ssh.knownHosts).toBe(pins)
  })

  it('needs no known-hosts when host keys are explicitly ignored', () => {
    const settings = parse({ 'known-hosts': '', 'insecure-ignore-host-key': 'true' })
    expect(settings.ssh).toMatchObject({ knownHosts: '', insecureIgnoreHostKey: true })
  })

  it('accepts PEM and PuTTY keys and an encrypted key with its passphrase', () => {
    const rsa = pem('RSA PRIVATE KEY', 'MIIEowIBAAKCAQEA')
    expect(parse({ 'ssh-key': rsa }).ssh.privateKey).toBe(`${rsa}\n`)
    const putty = 'PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none'
    expect(parse({ 'ssh-key': putty }).ssh.privateKey).toBe(`${putty}\n`)
    const encrypted = pem(
      'RSA PRIVATE KEY',
      'Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA',
    )
    expect(problemsOf({ 'ssh-key': encrypted })).toHaveLength(1)
    expect(problemsOf({ 'ssh-key': encrypted, 'ssh-key-passphrase': 'pw' })).toEqual([])
  })

  it("takes the jump host's own key, passphrase and known-hosts, and masks them", () => {
    const proxyKey = pem('OPENSSH PRIVATE KEY', 'b3BlbnNzaC1rZXktdjE')
    const settings = parse({
      'proxy-jump': 'bastion.example.com',
      'proxy-key': proxyKey,
      'proxy-known-hosts': 'bastion.example.com ssh-ed25519 AAAAC3Nz',
    })
    expect(settings.ssh).toMatchObject({
      proxyKey: `${proxyKey}\n`,
      proxyPassphrase: '',
      proxyKnownHosts: 'bastion.example.com ssh-ed25519 AAAAC3Nz',
    })
    expect(secretValues(settings)).toEqual(expect.arrayContaining(proxyKey.split('\n')))
  })

  it('lists secret values line by line for masking: secret-env values, not plain env ones', () => {
    const settings = parse({
      'ssh-key-passphrase': 'pw',
      env: 'NODE_ENV=production\nGREETING=hello',
      'secret-env': 'A=s3cret\nB=',
      'github-token': 't',
    })
    expect(secretValues(settings)).toEqual([...KEY.split('\n'), 'pw', 't', 's3cret'])
    const withToken = parse({
      'artifact-url': 'https://x.example/a.tgz',
      'artifact-token': 'tok3n',
    })
    expect(secretValues(withToken)).toContain('tok3n')
  })

  it('reads exclude patterns, newline- or comma-separated, with comments', () => {
    const { exclude } = parse({
      exclude: '# build leftovers\nnode_modules/, *.log\n/coverage\n',
    }).app
    expect(exclude).toEqual(['node_modules/', '*.log', '/coverage'])
  })
})

/** One bad input each (on top of a valid configuration), with the exact message it gives. */
const BAD_INPUTS: [Record<string, string>, string][] = [
  [
    { 'asset-path': '/srv/assets' },
    "Input 'asset-path': '/srv/assets' has an absolute path '/srv/assets' (expected folders of the release relative to its root, one per line or separated by commas, like 'public/assets' or '.next/static').",
  ],
  [
    { 'asset-path': 'public/../assets' },
    "Input 'asset-path': 'public/../assets' has 'public/../assets', with an empty, '.' or '..' segment (expected folders of the release relative to its root, one per line or separated by commas, like 'public/assets' or '.next/static').",
  ],
  [
    { 'asset-path': 'public, public/assets' },
    "Input 'asset-path': 'public, public/assets' has 'public/assets' and 'public', one inside the other (expected folders of the release relative to its root, one per line or separated by commas, like 'public/assets' or '.next/static').",
  ],
  [
    { hosts: '' },
    "Input 'hosts' is required (expected one or more [user@]host[:port], one per line or separated by commas).",
  ],
  [
    { hosts: 'web_1' },
    "Input 'hosts': 'web_1' is not a valid host (expected [user@]host[:port] with a DNS name, an IPv4 address or an IPv6 address in brackets).",
  ],
  [
    { hosts: 'web1:0' },
    "Input 'hosts': 'web1:0' has an invalid port '0' (expected an integer 1-65535).",
  ],
  [
    { hosts: 'web1:99999' },
    "Input 'hosts': 'web1:99999' has an invalid port '99999' (expected an integer 1-65535).",
  ],
  [
    { hosts: 'Bad.User!@web1' },
    "Input 'hosts': 'Bad.User!@web1' has an invalid user 'Bad.User!' (expected a user name of letters, digits, '_', '.' and '-', like 'deploy').",
  ],
  [
    { hosts: 'web1,WEB1:22' },
    "Input 'hosts': 'WEB1:22' is the same host and port as 'web1' (expected each host:port once; one host cannot take its own deploy lock twice).",
  ],
  [
    { hosts: 'deploy@[2001:db8::1' },
    "Input 'hosts': 'deploy@[2001:db8::1' is not a valid host (expected [user@]host[:port] with a DNS name, an IPv4 address or an IPv6 address in brackets).",
  ],
  [
    { hosts: '2001:db8::zz' },
    "Input 'hosts': '2001:db8::zz' is not a valid host (expected [user@]host[:port] with a DNS name, an IPv4 address or an IPv6 address in brackets).",
  ],
  [
    { hosts: '256.1.1.1' },
    "Input 'hosts': '256.1.1.1' is not a valid host (expected [user@]host[:port] with a DNS name, an IPv4 address or an IPv6 address in brackets).",
  ],
  [
    { hosts: '-web.example.com' },
    "Input 'hosts': '-web.example.com' is not a valid host (expected [user@]host[:port] with a DNS name, an IPv4 address or an IPv6 address in brackets).",
  ],
  [
    { hosts: '[2001:db8::1]2222' },
    "Input 'hosts': '[2001:db8::1]2222' is not a valid host (expected [user@]host[:port] with a DNS name, an IPv4 address or an IPv6 address in brackets).",
  ],
  [
    { 'ssh-user': 'Root Admin' },
    "Input 'ssh-user': 'Root Admin' is not a valid user name (expected a user name of letters, digits, '_', '.' and '-', like 'deploy').",
  ],
  [{ 'ssh-port': '0' }, "Input 'ssh-port': '0' is not a port (expected an integer 1-65535)."],
  [
    { 'ssh-key': '' },
    "Input 'ssh-key' is required (expected the private key text starting with '-----BEGIN' or 'PuTTY-User-Key-File', e.g. '${{ secrets.DEPLOY_KEY }}').",
  ],
  [
    { 'ssh-key': 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample me@laptop' },
    "Input 'ssh-key': the value (hidden) is a public key (expected the private key text starting with '-----BEGIN' or 'PuTTY-User-Key-File', e.g. '${{ secrets.DEPLOY_KEY }}').",
  ],
  [
    { 'ssh-key': pem('OPENSSH PRIVATE KEY', 'abc').replaceAll('\n', '\\n') },
    "Input 'ssh-key': the value (hidden) has literal '\\n' in place of line breaks (expected the private key text starting with '-----BEGIN' or 'PuTTY-User-Key-File', e.g. '${{ secrets.DEPLOY_KEY }}').",
  ],
  [
    { 'ssh-key': 'hunter2' },
    "Input 'ssh-key': the value (hidden) is not a private key (expected the private key text starting with '-----BEGIN' or 'PuTTY-User-Key-File', e.g. '${{ secrets.DEPLOY_KEY }}').",
  ],
  [
    { 'ssh-key': fakeOpenSshKey('aes256-ctr') },
    "Input 'ssh-key-passphrase' is required because 'ssh-key' is encrypted (expected the key's passphrase, e.g. from a secret).",
  ],
  [
    { 'known-hosts': '' },
    "Input 'known-hosts' is required unless 'insecure-ignore-host-key' is true (expected the hosts' public key lines, e.g. the output of 'ssh-keyscan web1.example.com').",
  ],
  [
    { 'known-hosts': '# keys\nweb1.example.com' },
    "Input 'known-hosts': line 2 'web1.example.com' is not a known_hosts entry (expected lines like 'web1.example.com ssh-ed25519 AAAAC3...', e.g. from ssh-keyscan, or a host-key fingerprint 'SHA256:...').",
  ],
  [
    { 'known-hosts': 'SHA256:abc' },
    "Input 'known-hosts': line 1 'SHA256:abc' is not a complete SHA256 fingerprint (expected 'SHA256:' and 43 characters as 'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub' prints it).",
  ],
  [
    { 'known-hosts': 'web1.example.com 43:51:43:a1:b5:fc:8b:b7:0a:3a:a9:b1:0f:66:73:a8' },
    "Input 'known-hosts': line 1 'web1.example.com 43:51:43:a1:b5:fc:8b:b7:0a:3a:a9:b1:0f:66:73:a8' is an MD5 fingerprint (expected a SHA256 one, 'SHA256:' and 43 characters as 'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub' prints it, or a known_hosts line).",
  ],
  [
    { 'known-hosts': 'MD5:43:51:43:a1:b5:fc:8b:b7:0a:3a:a9:b1:0f:66:73:a8' },
    "Input 'known-hosts': line 1 'MD5:43:51:43:a1:b5:fc:8b:b7:0a:3a:a9:b1:0f:66:73:a8' is an MD5 fingerprint (expected a SHA256 one, 'SHA256:' and 43 characters as 'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub' prints it, or a known_hosts line).",
  ],
  [
    { 'insecure-ignore-host-key': 'maybe' },
    "Input 'insecure-ignore-host-key': 'maybe' is not a boolean (expected true or false; yes/no, on/off and 1/0 also work).",
  ],
  [
    { 'proxy-key': pem('OPENSSH PRIVATE KEY', 'b3BlbnNzaC1rZXktdjE') },
    "Input 'proxy-key' was given without 'proxy-jump' (expected a jump host '[user@]host[:port]' in 'proxy-jump' for it to apply to, or no 'proxy-key').",
  ],
  [
    { 'proxy-known-hosts': 'bastion ssh-ed25519 AAAAC3Nz' },
    "Input 'proxy-known-hosts' was given without 'proxy-jump' (expected a jump host '[user@]host[:port]' in 'proxy-jump' for it to apply to, or no 'proxy-known-hosts').",
  ],
  [
    { 'proxy-jump': 'bastion', 'proxy-key': 'ssh-ed25519 AAAAC3Nz' },
    "Input 'proxy-key': the value (hidden) is a public key (expected the private key text starting with '-----BEGIN' or 'PuTTY-User-Key-File', e.g. '${{ secrets.DEPLOY_KEY }}').",
  ],
  [
    { 'proxy-jump': 'bastion', 'proxy-key': fakeOpenSshKey('aes256-ctr') },
    "Input 'proxy-key-passphrase' is required because 'proxy-key' is encrypted (expected the key's passphrase, e.g. from a secret).",
  ],
  [
    { 'proxy-jump': 'bastion', 'proxy-key-passphrase': 'pw' },
    "Input 'proxy-key-passphrase' was given without 'proxy-key' (expected the jump host's own key in 'proxy-key'; the passphrase of 'ssh-key' goes in 'ssh-key-passphrase').",
  ],
  [
    { 'proxy-jump': 'bastion', 'proxy-known-hosts': 'bastion' },
    "Input 'proxy-known-hosts': line 1 'bastion' is not a known_hosts entry (expected lines like 'web1.example.com ssh-ed25519 AAAAC3...', e.g. from ssh-keyscan, or a host-key fingerprint 'SHA256:...').",
  ],
  [
    { 'proxy-jump': 'bastion:abc' },
    "Input 'proxy-jump': 'bastion:abc' has an invalid port 'abc' (expected an integer 1-65535).",
  ],
  [
    { 'connect-timeout': '0s' },
    "Input 'connect-timeout': '0s' is zero (expected a duration greater than 0).",
  ],
  [
    { 'connect-timeout': '10 sec' },
    "Input 'connect-timeout': '10 sec' is not a duration (expected a duration, e.g. '30s', '2m', '1m30s', '500ms', or plain seconds like '45').",
  ],
  [
    { 'max-parallel': '0' },
    "Input 'max-parallel': '0' is out of range (expected an integer 1-256).",
  ],
  [
    { 'max-parallel': '2.5' },
    "Input 'max-parallel': '2.5' is not an integer (expected an integer 1-256).",
  ],
  [
    { 'app-name': 'Shop' },
    "Input 'app-name': 'Shop' is not a valid app name (expected 1-40 characters of a-z, 0-9, '_' and '-', starting with a letter, like 'shop'; it names nginx upstreams, files and systemd units).",
  ],
  [
    { 'app-name': '' },
    "Input 'app-name' is required (expected 1-40 characters of a-z, 0-9, '_' and '-', starting with a letter, like 'shop'; it names nginx upstreams, files and systemd units).",
  ],
  [
    { 'app-name': 'a'.repeat(41) },
    `Input 'app-name': '${'a'.repeat(41)}' is not a valid app name (expected 1-40 characters of a-z, 0-9, '_' and '-', starting with a letter, like 'shop'; it names nginx upstreams, files and systemd units).`,
  ],
  [
    { 'deploy-path': 'srv/shop' },
    "Input 'deploy-path': 'srv/shop' is not an absolute path (expected an absolute, normalized directory path like '/srv/app').",
  ],
  [
    { 'deploy-path': '/srv/../etc' },
    "Input 'deploy-path': '/srv/../etc' contains '..' (expected an absolute, normalized directory path like '/srv/app').",
  ],
  [
    { 'deploy-path': '/' },
    "Input 'deploy-path': '/' is the root directory (expected an absolute, normalized directory path like '/srv/app').",
  ],
  [
    { 'deploy-path': '/srv/my app' },
    "Input 'deploy-path': '/srv/my app' contains whitespace or control characters (expected an absolute, normalized directory path like '/srv/app').",
  ],
  [
    { 'deploy-path': '/srv//shop/' },
    "Input 'deploy-path': '/srv//shop/' is not normalized (expected an absolute, normalized directory path like '/srv/app').",
  ],
  [
    { version: '-rc1' },
    "Input 'version': '-rc1' is not a valid version (expected 1-64 characters of A-Z, a-z, 0-9, '.', '_', '+' and '-', starting with a letter or digit).",
  ],
  [
    { 'artifact-url': 'ftp://example.com/app.tgz' },
    "Input 'artifact-url': 'ftp://example.com/app.tgz' is not an http(s) URL (expected an absolute URL starting with 'https://' or 'http://').",
  ],
  [
    { 'artifact-url': 'not a url' },
    "Input 'artifact-url': 'not a url' is not a URL (expected an absolute URL starting with 'https://' or 'http://').",
  ],
  [
    { exclude: 'node_modules/, !node_modules/keep, log\u001b[0m' },
    "Input 'exclude': 'node_modules/, !node_modules/keep, log\\x1b[0m' has bad patterns: 'log\\x1b[0m' contains control characters (expected gitignore patterns relative to release-path, one per line or separated by commas, like 'node_modules/, *.log, /coverage').",
  ],
  [
    { exclude: 'node_modules/', 'artifact-url': 'https://example.com/app.tgz' },
    "Input 'exclude' was given together with 'artifact-url' (expected exclude only with a 'release-path' directory that the action packs; a downloaded archive ships as it is).",
  ],
  [
    { 'artifact-url': 'https://example.com/app.tgz', 'artifact-sha256': 'abc123' },
    "Input 'artifact-sha256': 'abc123' is not a sha256 (expected 64 hex digits, as 'sha256sum app.tar.gz' prints them).",
  ],
  [
    { 'artifact-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' },
    "Input 'artifact-sha256' was given without 'artifact-url' (expected it only with artifact-url, to check the download).",
  ],
  [
    { 'artifact-token': 'tok3n' },
    "Input 'artifact-token' was given without 'artifact-url' (expected it only with artifact-url, to authorize the download).",
  ],
  [
    { 'artifact-url': 'https://example.com/app.tgz', 'artifact-token': 'Bearer tok3n' },
    "Input 'artifact-token': the value (hidden) contains whitespace, control or non-ASCII characters (expected the token alone, e.g. '${{ secrets.ARTIFACT_TOKEN }}'; it is sent as 'Authorization: Bearer <token>').",
  ],
  [
    { 'artifact-url': 'https://example.com/app.tgz', 'release-path': 'build' },
    "Input 'artifact-url': 'https://example.com/app.tgz' was given together with 'release-path' 'build' (expected only one of them: the release comes from one place).",
  ],
  [
    { 'start-command': '' },
    "Input 'start-command' is required unless 'rollback' is true (expected the command that starts the app on $PORT, e.g. 'node server.js').",
  ],
  [
    { strategy: 'reload' },
    "Input 'reload-command' is required when 'strategy' is reload (expected the command that makes the app reload itself, e.g. 'kill -USR2 $(cat tmp/pids/puma.pid)').",
  ],
  [
    { 'worker-command': 'jobs: node jobs.js\nnode mail.js' },
    "Input 'worker-command': 'jobs: node jobs.js\\nnode mail.js' has the line 'node mail.js', which is not a worker (expected one 'name: command' per line, the name of 1-20 characters of a-z, 0-9 and '-' starting with a letter, each name once, like 'jobs: bundle exec sidekiq').",
  ],
  [
    { 'worker-command': 'Jobs: node jobs.js' },
    "Input 'worker-command': 'Jobs: node jobs.js' has the line 'Jobs: node jobs.js', which is not a worker (expected one 'name: command' per line, the name of 1-20 characters of a-z, 0-9 and '-' starting with a letter, each name once, like 'jobs: bundle exec sidekiq').",
  ],
  [
    { 'worker-command': 'jobs: a\njobs: b' },
    "Input 'worker-command': 'jobs: a\\njobs: b' names 'jobs' twice (expected one 'name: command' per line, the name of 1-20 characters of a-z, 0-9 and '-' starting with a letter, each name once, like 'jobs: bundle exec sidekiq').",
  ],
  [
    { 'worker-stop-timeout': '0s' },
    "Input 'worker-stop-timeout': '0s' is zero (expected a duration greater than 0).",
  ],
  [
    { 'worker-hosts': 'jobs1' },
    "Input 'worker-hosts' was given without 'worker-command' (expected the workers those hosts run, one 'name: command' per line in 'worker-command').",
  ],
  [
    { 'worker-stop-command': 'kill -TSTP "$WORKER_PID"' },
    "Input 'worker-stop-command' was given without 'worker-command' (expected the workers it stops, one 'name: command' per line in 'worker-command').",
  ],
  [
    { 'worker-command': 'jobs: node jobs.js', 'worker-hosts': 'web1.example.com' },
    "Input 'worker-hosts': 'web1.example.com' is also in 'hosts' (expected hosts that run only workers; a host in 'hosts' runs the workers beside its slots already).",
  ],
  [
    { 'worker-command': 'jobs: node jobs.js', 'worker-hosts': 'jobs_1' },
    "Input 'worker-hosts': 'jobs_1' is not a valid host (expected [user@]host[:port] with a DNS name, an IPv4 address or an IPv6 address in brackets).",
  ],
  [
    { env: 'A=1\nFOO' },
    "Input 'env': line 2 has no '=' (expected KEY=VALUE lines; values cannot span lines).",
  ],
  [
    { env: '1FOO=x' },
    "Input 'env': line 1 does not start with a variable name (expected KEY=VALUE with KEY of letters, digits and '_', not starting with a digit; the line is not shown since it may hold a secret).",
  ],
  [
    { env: 'A=1\n\nA=2' },
    "Input 'env': line 3 sets A again, already set on line 1 (expected each key once).",
  ],
  [
    { env: 'PORT=8080' },
    "Input 'env': line 1 sets PORT, which the action sets for each slot (expected none of PORT, SLOT, APP_VERSION, RELEASE_DIR, DEPLOY_PATH, RELEASE_NODE).",
  ],
  [
    { 'secret-env': 'A=1\nFOO' },
    "Input 'secret-env': line 2 has no '=' (expected KEY=VALUE lines; values cannot span lines).",
  ],
  [
    { env: 'TOKEN=a\nMODE=x', 'secret-env': 'TOKEN=b' },
    "Input 'secret-env': sets TOKEN, which 'env' sets too (expected each variable in one of them: 'secret-env' for values to mask in the log).",
  ],
  [
    { 'process-manager': 'pm2' },
    "Input 'process-manager': 'pm2' is not a valid choice (expected one of auto, builtin, systemd).",
  ],
  [
    { 'keep-releases': '1' },
    "Input 'keep-releases': '1' is out of range (expected an integer of at least 2).",
  ],
  [
    { strategy: 'blue_green' },
    "Input 'strategy': 'blue_green' is not a valid choice (expected one of blue-green, rolling, canary, reload).",
  ],
  [
    { 'batch-size': '0' },
    "Input 'batch-size': '0' is out of range (expected a count of at least 1 like '2', or a percentage 1-100 like '25%').",
  ],
  [
    { 'batch-size': '150%' },
    "Input 'batch-size': '150%' is out of range (expected a count of at least 1 like '2', or a percentage 1-100 like '25%').",
  ],
  [
    { 'batch-size': 'half' },
    "Input 'batch-size': 'half' is not a count or percentage (expected a count of at least 1 like '2', or a percentage 1-100 like '25%').",
  ],
  [
    { 'load-balancer': 'lb_1' },
    "Input 'load-balancer': 'lb_1' is not a valid host (expected [user@]host[:port] with a DNS name, an IPv4 address or an IPv6 address in brackets).",
  ],
  [
    { 'nginx-site': 'shop.example.com;' },
    "Input 'nginx-site': 'shop.example.com;' has an invalid server name 'shop.example.com;' (expected host names like 'shop.example.com' or '*.example.com', separated by spaces or commas).",
  ],
  [
    { 'nginx-site': 'shop.example.com $host' },
    "Input 'nginx-site': 'shop.example.com $host' has an invalid server name '$host' (expected host names like 'shop.example.com' or '*.example.com', separated by spaces or commas).",
  ],
  [
    { 'nginx-site': 'shop.example.com', 'nginx-site-listen': '80 default_server' },
    "Input 'nginx-site-listen': '80 default_server' is not a listen address (expected a port like '80', or 'address:port' like '127.0.0.1:8080' or '[::1]:80').",
  ],
  [
    { 'nginx-site': 'shop.example.com', 'nginx-site-listen': '300.0.0.1:80' },
    "Input 'nginx-site-listen': '300.0.0.1:80' has an invalid address (expected a port like '80', or 'address:port' like '127.0.0.1:8080' or '[::1]:80').",
  ],
  [
    { 'nginx-site': 'shop.example.com', 'nginx-site-listen': '127.0.0.1:70000' },
    "Input 'nginx-site-listen': '127.0.0.1:70000' has an invalid port (expected a port like '80', or 'address:port' like '127.0.0.1:8080' or '[::1]:80').",
  ],
  [
    { 'nginx-site': 'shop.example.com', 'nginx-site-listen': '3002' },
    "Input 'nginx-site-listen': '3002' uses port 3002, which is 'green-port' (expected a port the slots and the verification server do not use, like 80).",
  ],
  [
    { 'nginx-site': 'shop.example.com', 'nginx-site-listen': '127.0.0.1:3003' },
    "Input 'nginx-site-listen': '127.0.0.1:3003' uses port 3003, which is 'nginx-verify-port' (expected a port the slots and the verification server do not use, like 80).",
  ],
  [
    { 'nginx-site-file': '/etc/nginx/conf.d/shop.site.conf' },
    "Input 'nginx-site-file': '/etc/nginx/conf.d/shop.site.conf' was given without 'nginx-site' (expected 'nginx-site' with the site's server names, or no 'nginx-site-file').",
  ],
  [
    { 'nginx-site': 'shop.example.com', 'nginx-site-file': '/etc/nginx/conf.d/shop.upstream.conf' },
    "Input 'nginx-site-file': '/etc/nginx/conf.d/shop.upstream.conf' is also 'nginx-upstream-file' (expected two different files: the site and the upstream it proxies to).",
  ],
  [
    { 'nginx-site': 'shop.example.com', 'nginx-site-file': 'conf.d/shop.conf' },
    "Input 'nginx-site-file': 'conf.d/shop.conf' is not an absolute path (expected an absolute, normalized file path like '/etc/nginx/conf.d/app.conf').",
  ],
  [
    { 'nginx-verify-port': '3001' },
    "Input 'nginx-verify-port': 3001 is also a slot port ('blue-port' or 'green-port') (expected a third port, used by nginx to let the action verify a switch).",
  ],
  [
    { 'lb-backend-port': '0' },
    "Input 'lb-backend-port': '0' is not a port (expected an integer 1-65535).",
  ],
  [
    { 'lb-upstream-file': 'lb.conf' },
    "Input 'lb-upstream-file': 'lb.conf' is not an absolute path (expected an absolute, normalized file path like '/etc/nginx/conf.d/app.conf').",
  ],
  [
    { 'on-failure': 'ignore' },
    "Input 'on-failure': 'ignore' is not a valid choice (expected one of rollback, stop).",
  ],
  [
    { 'canary-weight': '50,10,100' },
    "Input 'canary-weight': '50,10,100' is not strictly ascending (expected percentages 1-100, strictly ascending and ending with 100, like '10,50,100').",
  ],
  [
    { 'canary-weight': '10,50' },
    "Input 'canary-weight': '10,50' does not end with 100 (expected percentages 1-100, strictly ascending and ending with 100, like '10,50,100').",
  ],
  [
    { 'canary-weight': '0,100' },
    "Input 'canary-weight': '0,100' is out of range (expected percentages 1-100, strictly ascending and ending with 100, like '10,50,100').",
  ],
  [
    { 'canary-weight': '10,fifty,100' },
    "Input 'canary-weight': '10,fifty,100' is not a list of integers (expected percentages 1-100, strictly ascending and ending with 100, like '10,50,100').",
  ],
  [
    { 'canary-weight': '10,10,100' },
    "Input 'canary-weight': '10,10,100' is not strictly ascending (expected percentages 1-100, strictly ascending and ending with 100, like '10,50,100').",
  ],
  [
    { 'canary-step-duration': '-1m' },
    "Input 'canary-step-duration': '-1m' is not a duration (expected a duration, e.g. '30s', '2m', '1m30s', '500ms', or plain seconds like '45').",
  ],
  [
    { 'canary-max-error-rate': '150%' },
    "Input 'canary-max-error-rate': '150%' is out of range (expected a percentage 0-100 like '1%' or '0.5%', or 'off' not to judge it).",
  ],
  [
    { 'canary-max-error-rate': 'low' },
    "Input 'canary-max-error-rate': 'low' is not a percentage (expected a percentage 0-100 like '1%' or '0.5%', or 'off' not to judge it).",
  ],
  [
    { 'canary-access-log': '/var/log/nginx/a;b.log' },
    "Input 'canary-access-log': '/var/log/nginx/a;b.log' contains characters nginx would read as syntax (expected an absolute file path of letters, digits and . _ - + @ / like '/var/log/nginx/app-canary.log').",
  ],
  [
    { 'canary-access-log': 'logs/canary.log' },
    "Input 'canary-access-log': 'logs/canary.log' is not an absolute path (expected an absolute, normalized file path like '/etc/nginx/conf.d/app.conf').",
  ],
  [
    { 'canary-min-requests': '-1' },
    "Input 'canary-min-requests': '-1' is not an integer (expected an integer of at least 0).",
  ],
  [
    { 'watch-min-requests': '1.5' },
    "Input 'watch-min-requests': '1.5' is not an integer (expected an integer of at least 0).",
  ],
  [
    { watch: 'soon' },
    "Input 'watch': 'soon' is not a duration (expected a duration, e.g. '30s', '2m', '1m30s', '500ms', or plain seconds like '45').",
  ],
  [
    { 'watch-max-latency': '0s' },
    "Input 'watch-max-latency': '0s' is zero (expected a duration greater than 0).",
  ],
  [
    { strategy: 'reload', 'reload-command': 'kill -HUP 1', watch: '60s' },
    "Input 'watch': '60s' does not apply to strategy reload (expected '0s' with reload, which reloads the one slot in place and keeps no previous slot to switch back to; blue-green, rolling and canary can watch).",
  ],
  [
    { 'watch-check-command': './check.sh' },
    "Input 'watch-check-command' was given without 'watch' (expected a 'watch' duration like '60s' for it to run in, or no 'watch-check-command').",
  ],
  [
    { 'canary-hosts': '1' },
    "Input 'canary-hosts': '1' is not fewer than the 1 host in 'hosts' (expected fewer hosts than 'hosts' lists, so that some stay on the old version during the bake).",
  ],
  [
    { hosts: 'web1 web2', 'canary-hosts': '60%' },
    "Input 'canary-hosts': '60%' is not fewer than the 2 hosts in 'hosts' (expected fewer hosts than 'hosts' lists, so that some stay on the old version during the bake).",
  ],
  [
    { 'canary-hosts': '0%' },
    "Input 'canary-hosts': '0%' is out of range (expected a count of at least 1 like '2', or a percentage 1-100 like '25%').",
  ],
  [
    { 'canary-sticky-cookie': 'my-cookie' },
    "Input 'canary-sticky-cookie': 'my-cookie' is not a valid cookie name (expected 1-64 characters of A-Z, a-z, 0-9 and '_', since nginx reads it as $cookie_<name>).",
  ],
  [
    { 'blue-port': '70000' },
    "Input 'blue-port': '70000' is not a port (expected an integer 1-65535).",
  ],
  [
    { 'green-port': '3001' },
    "Input 'green-port': '3001' is the same port as 'blue-port' '3001' (expected two different ports, one per slot).",
  ],
  [
    { 'green-port': 'abc' },
    "Input 'green-port': 'abc' is not a port (expected an integer 1-65535).",
  ],
  [
    { 'health-path': 'health' },
    "Input 'health-path': 'health' does not start with '/' (expected an HTTP path starting with '/', without whitespace, like '/health').",
  ],
  [
    { 'health-path': '/he alth' },
    "Input 'health-path': '/he alth' contains whitespace or control characters (expected an HTTP path starting with '/', without whitespace, like '/health').",
  ],
  [
    { 'version-path': 'version' },
    "Input 'version-path': 'version' does not start with '/' (expected an HTTP path starting with '/', without whitespace, like '/health').",
  ],
  [
    { 'health-timeout': '25h' },
    "Input 'health-timeout': '25h' is too long (expected a duration of at most 24h).",
  ],
  [
    { 'health-interval': '2m' },
    "Input 'health-interval': '2m' is not shorter than 'health-timeout' '60s' (expected an interval below the timeout, so that a slot is checked more than once).",
  ],
  [
    { 'drain-timeout': 'soon' },
    "Input 'drain-timeout': 'soon' is not a duration (expected a duration, e.g. '30s', '2m', '1m30s', '500ms', or plain seconds like '45').",
  ],
  [
    { 'stop-timeout': '0' },
    "Input 'stop-timeout': '0' is zero (expected a duration greater than 0).",
  ],
  [
    { 'keep-previous': 'hot' },
    "Input 'keep-previous': 'hot' is not a valid choice (expected one of stop, warm).",
  ],
  [
    { 'nginx-upstream-file': '/etc/nginx/conf.d/../x.conf' },
    "Input 'nginx-upstream-file': '/etc/nginx/conf.d/../x.conf' contains '..' (expected an absolute, normalized file path like '/etc/nginx/conf.d/app.conf').",
  ],
  [
    { sudo: 'sometimes' },
    "Input 'sudo': 'sometimes' is not a boolean (expected true or false; yes/no, on/off and 1/0 also work).",
  ],
  [
    { force: 'y' },
    "Input 'force': 'y' is not a boolean (expected true or false; yes/no, on/off and 1/0 also work).",
  ],
  [
    { 'lock-timeout': '5 minutes' },
    "Input 'lock-timeout': '5 minutes' is not a duration (expected a duration, e.g. '30s', '2m', '1m30s', '500ms', or plain seconds like '45').",
  ],
  [
    { rollback: 'nope' },
    "Input 'rollback': 'nope' is not a boolean (expected true or false; yes/no, on/off and 1/0 also work).",
  ],
  [
    { 'rollback-to': 'v1/2' },
    "Input 'rollback-to': 'v1/2' is not a valid version (expected 1-64 characters of A-Z, a-z, 0-9, '.', '_', '+' and '-', starting with a letter or digit).",
  ],
  [
    { url: 'javascript:alert(1)' },
    "Input 'url': 'javascript:alert(1)' is not an http(s) URL (expected an absolute URL starting with 'https://' or 'http://').",
  ],
  [
    { environment: 'x'.repeat(256) },
    `Input 'environment': '${'x'.repeat(77)}...' is not a valid environment name (expected at most 255 characters without control characters).`,
  ],
  [
    { 'dry-run': 'maybe' },
    "Input 'dry-run': 'maybe' is not a boolean (expected true or false; yes/no, on/off and 1/0 also work).",
  ],
  [
    { 'release-path': 'build\u0007' },
    "Input 'release-path': 'build\\x07' contains control characters (expected a path on the runner like 'build' or 'dist/app.tar.gz').",
  ],
]

describe('input errors', () => {
  it('covers many distinct bad inputs', () => {
    expect(BAD_INPUTS.length).toBeGreaterThanOrEqual(30)
    expect(new Set(BAD_INPUTS.map(([, message]) => message)).size).toBe(BAD_INPUTS.length)
  })

  it.each(BAD_INPUTS)('rejects %j', (overrides, message) => {
    expect(problemsOf(overrides)).toEqual([message])
  })

  it('reports every problem at once, in one InputError', () => {
    let caught: unknown
    try {
      parse({
        hosts: 'web1, web_2',
        'app-name': 'My App',
        'blue-port': '70000',
        'green-port': '3001',
        'health-interval': '90s',
        strategy: 'reload',
        env: 'PASSWORD',
      })
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(InputError)
    const error = caught as InputError
    expect(error.problems).toEqual([
      "Input 'hosts': 'web_2' is not a valid host (expected [user@]host[:port] with a DNS name, an IPv4 address or an IPv6 address in brackets).",
      "Input 'app-name': 'My App' is not a valid app name (expected 1-40 characters of a-z, 0-9, '_' and '-', starting with a letter, like 'shop'; it names nginx upstreams, files and systemd units).",
      "Input 'env': line 1 has no '=' (expected KEY=VALUE lines; values cannot span lines).",
      "Input 'blue-port': '70000' is not a port (expected an integer 1-65535).",
      "Input 'reload-command' is required when 'strategy' is reload (expected the command that makes the app reload itself, e.g. 'kill -USR2 $(cat tmp/pids/puma.pid)').",
      "Input 'health-interval': '90s' is not shorter than 'health-timeout' '60s' (expected an interval below the timeout, so that a slot is checked more than once).",
    ])
    expect(error.message).toBe(
      `Invalid inputs (6 problems):\n${error.problems.map((p) => `- ${p}`).join('\n')}`,
    )
    expect(error.name).toBe('InputError')
  })

  it('reports a batch that would empty the load balancer together with the other problems', () => {
    const rolling = {
      hosts: 'web1, web2',
      strategy: 'rolling',
      'load-balancer': 'lb.example.com',
      'batch-size': '100%',
    }
    expect(problemsOf({ ...rolling, 'max-parallel': '0' })).toEqual([
      "Input 'max-parallel': '0' is out of range (expected an integer 1-256).",
      "Input 'batch-size': 2 of 2 host(s) per batch would take every server out of the load balancer at once; use a smaller batch-size (or more hosts).",
    ])
    // Canary by hosts moves batches through the load balancer too; a rollback moves none.
    expect(problemsOf({ ...rolling, strategy: 'canary', 'canary-hosts': '1' })).toEqual([
      "Input 'batch-size': 2 of 2 host(s) per batch would take every server out of the load balancer at once; use a smaller batch-size (or more hosts).",
    ])
    expect(problemsOf({ ...rolling, rollback: 'true' })).toEqual([])
    expect(problemsOf({ ...rolling, 'batch-size': '50%' })).toEqual([])
    expect(problemsOf({ ...rolling, 'load-balancer': '' })).toEqual([])
  })

  it('names the inputs that have a problem, by their own check or a combination rule', () => {
    let caught: unknown
    try {
      parse({ 'max-parallel': '0', strategy: 'reload' })
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(InputError)
    expect([...(caught as InputError).inputs].sort()).toEqual(['max-parallel', 'reload-command'])
  })

  it('says "1 problem" for one problem', () => {
    expect(() => parse({ 'max-parallel': '0' })).toThrow(/^Invalid inputs \(1 problem\):\n- /)
  })

  it('never shows secret values in messages', () => {
    const secret = 'hunter2-do-not-print'
    const problems = [
      ...problemsOf({ 'ssh-key': secret }),
      ...problemsOf({ env: `${secret}\nTOKEN=${secret}\nTOKEN=${secret}\n${secret}/x=1` }),
      ...problemsOf({ 'secret-env': `${secret}\nTOKEN=${secret}`, env: `TOKEN=${secret}` }),
    ]
    expect(problems).toHaveLength(6)
    for (const problem of problems) expect(problem).not.toContain(secret)
  })
})
