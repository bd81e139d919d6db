/** The SSH layer against real sshd and nginx in throwaway hosts (no mocks). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RemoteCommandError } from '../../src/common/errors.js'
import type { HostAddress } from '../../src/inputs/settings.js'
import { cmd, script } from '../../src/remote/shell.js'
import { RemoteHost, type SshOptions } from '../../src/ssh/connection.js'
import { parseKnownHosts } from '../../src/ssh/known-hosts.js'
import { makeClientKey, startLab, type Lab } from '../../test/hosts/index.js'
import { waitFor } from '../../test/wait.js'

let lab: Lab
let options: SshOptions
const open: RemoteHost[] = []

const address = (host: string, port = 22): HostAddress => ({
  user: 'root',
  host,
  port,
  label: host,
})

async function connect(host: string, overrides: Partial<SshOptions> = {}, via?: RemoteHost) {
  const remote = await RemoteHost.connect(address(host), { ...options, ...overrides }, { via })
  open.push(remote)
  return remote
}

beforeAll(async () => {
  lab = await startLab({ hosts: 2, name: 'ssh' })
  options = {
    privateKey: lab.privateKey,
    passphrase: '',
    knownHosts: parseKnownHosts(lab.knownHosts),
    connectTimeoutMs: 5000,
    keepaliveIntervalMs: 5000,
  }
})

/** The error a promise that must fail rejected with. */
async function failure(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a failure, but it succeeded')
    },
    (error: unknown) => error as Error,
  )
}

afterAll(async () => {
  open.forEach((host) => host.dispose())
  await lab?.stop()
})

describe('commands', () => {
  const hostile = [
    "it's",
    'say "hi"',
    '$(id)',
    '`id`',
    'a; touch /srv/pwned-semicolon',
    '$(touch /srv/pwned-subst)',
    'line one\nline two\n',
    'ünïcödé ✓ 日本',
    '',
    '  spaced  ',
    '*',
    '\\backslash\\',
  ]

  it('gets every hostile argument back intact, and runs none of them', async () => {
    const host = await connect(lab.hosts[0]!.address)
    const { stdout } = await host.exec(cmd('printf', '%s\\0', ...hostile), { step: 'echo' })
    expect(stdout.split('\0').slice(0, -1)).toEqual(hostile)
    const { stdout: pwned } = await lab.hosts[0]!.sh('ls /srv')
    expect(pwned).not.toContain('pwned')
  })

  it('passes script data as positional parameters', async () => {
    const host = await connect(lab.hosts[0]!.address)
    const { stdout } = await host.exec(script('printf "%s|%s" "$1" "$2"', '$(id)', "'x'"), {
      step: 'script',
    })
    expect(stdout).toBe("$(id)|'x'")
  })

  it('keeps multi-byte characters split across output chunks', async () => {
    const host = await connect(lab.hosts[0]!.address)
    const { stdout } = await host.exec(
      script('i=0; while [ $i -lt 20000 ]; do printf "é"; i=$((i+1)); done'),
      {
        step: 'many bytes',
      },
    )
    expect(stdout).toBe('é'.repeat(20000))
  })

  it('turns a non-zero exit into an error naming host, step, exit code and stderr tail', async () => {
    const host = await connect(lab.hosts[0]!.address)
    const failing = script(
      'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo "err $i" >&2; done; exit 7',
    )
    const error = await failure(host.exec(failing, { step: 'extract release' }))
    expect(error).toBeInstanceOf(RemoteCommandError)
    expect((error as RemoteCommandError).exitCode).toBe(7)
    const lines = Array.from({ length: 10 }, (_, i) => `err ${i + 3}`).join('\n')
    expect((error as Error).message).toBe(
      `[${lab.hosts[0]!.address}] extract release: command exited 7:\n${lines}`,
    )
  })

  it('tryExec returns the exit code, and stdin reaches the command', async () => {
    const host = await connect(lab.hosts[0]!.address)
    const result = await host.tryExec(script('cat; exit 3'), { step: 'stdin', stdin: 'from stdin' })
    expect(result).toEqual({ exitCode: 3, stdout: 'from stdin', stderr: '' })
  })

  it('never loses the exit code of a quick command (it can arrive with the channel confirmation)', async () => {
    const host = await connect(lab.hosts[0]!.address)
    // Rounds of 8 at once: sshd's default MaxSessions is 10.
    for (let round = 0; round < 8; round++) {
      const results = await Promise.all(
        Array.from({ length: 8 }, () => host.tryExec(script('exit 3'), { step: 'quick' })),
      )
      expect(results.map((r) => r.exitCode)).toEqual(results.map(() => 3))
    }
  })

  it('cuts off a command that outlives its timeout', async () => {
    const host = await connect(lab.hosts[0]!.address)
    const started = Date.now()
    const result = await host.tryExec(cmd('sleep', '30'), { step: 'slow', timeoutMs: 500 })
    expect(result.exitCode).toBeNull()
    expect(result.stderr).toContain('timed out after 500 ms')
    expect(Date.now() - started).toBeLessThan(5000)
  })
})

describe('tunnel', () => {
  it('GETs a port on the host through the SSH connection', async () => {
    const lab1 = lab.hosts[0]!
    await lab1.sh(
      `cat > /etc/nginx/sites-enabled/tunnel.conf <<'CONF'
server { listen 127.0.0.1:8089; location /hello { return 200 "hello through ssh"; } }
CONF
nginx -s reload`,
    )
    const host = await connect(lab1.address)
    // nginx -s reload only signals the master: poll until the new workers listen on 8089.
    const response = await waitFor(
      async () => {
        const reply = await host.httpGet(8089, '/hello', 2000)
        return reply.status === 200 && reply
      },
      {
        what: 'nginx to answer on port 8089 through the tunnel',
        timeoutMs: 10_000,
        intervalMs: 100,
      },
    )
    expect(response).toMatchObject({ status: 200, body: 'hello through ssh' })
    expect((await host.httpGet(8089, '/missing', 2000)).status).toBe(404)
  })

  it('fails clearly when nothing listens on the port', async () => {
    const host = await connect(lab.hosts[0]!.address)
    await expect(host.httpGet(3999, '/health', 2000)).rejects.toThrow(
      /cannot open a tunnel to port 3999 on .*: .*(refused|failure)/i,
    )
  })
})

describe('host keys', () => {
  it('accepts hashed known_hosts entries', async () => {
    const hashed = parseKnownHosts(await lab.hashedKnownHosts())
    expect(hashed.every((e) => e.patterns[0]!.startsWith('|1|'))).toBe(true)
    const host = await connect(lab.hosts[1]!.address, { knownHosts: hashed })
    expect((await host.exec(cmd('true'), { step: 'noop' })).exitCode).toBe(0)
  })

  it('rejects a changed key with both fingerprints and the paste-ready line', async () => {
    const [one, two] = lab.hosts
    // host2's address paired with host1's key: what a man in the middle would look like.
    const wrong = parseKnownHosts(`${two!.address} ${one!.hostKeyLine}`)
    const error = await failure(connect(two!.address, { knownHosts: wrong }))
    expect(error.message).toContain(
      `[${two!.address}] connect: HOST KEY MISMATCH for ${two!.address}`,
    )
    expect(error.message).toContain(`\n${two!.knownHostsLine}`)
  })

  it('rejects an unknown host with the line to paste into known-hosts', async () => {
    const [one, two] = lab.hosts
    const onlyOne = parseKnownHosts(one!.knownHostsLine)
    const error = await failure(connect(two!.address, { knownHosts: onlyOne }))
    expect(error.message).toMatch(
      new RegExp(
        `^\\[${two!.address.replaceAll('.', '\\.')}\\] connect: Host ${two!.address.replaceAll('.', '\\.')} is not in known-hosts`,
      ),
    )
    expect(error.message.endsWith(`add this line to known-hosts:\n${two!.knownHostsLine}`)).toBe(
      true,
    )
  })

  it('connects without checking when insecure-ignore-host-key is set', async () => {
    const host = await connect(lab.hosts[1]!.address, { knownHosts: null })
    expect((await host.exec(cmd('echo', 'ok'), { step: 'noop' })).stdout).toBe('ok\n')
  })

  it('verifies ecdsa and rsa host keys too, asking for the type known_hosts has', async () => {
    // The host offers all three types; known_hosts holds one, so that one must be negotiated.
    const other = await startLab({
      hosts: 1,
      hostKeyType: ['ed25519', 'ecdsa', 'rsa'],
      name: 'keys',
    })
    try {
      const target = other.hosts[0]!
      for (const type of ['ecdsa', 'rsa'] as const) {
        const known = parseKnownHosts(`${target.address} ${target.hostKeys[type]}`)
        const host = await RemoteHost.connect(address(target.address), {
          ...options,
          privateKey: other.privateKey,
          knownHosts: known,
        })
        expect((await host.exec(cmd('echo', type), { step: 'noop' })).stdout).toBe(`${type}\n`)
        host.dispose()
      }
    } finally {
      await other.stop()
    }
  })
})

describe('connecting', () => {
  it('fails within the connect timeout, with a clear message, when the host does not answer', async () => {
    const started = Date.now()
    const error = await failure(connect(lab.unusedAddress, { connectTimeoutMs: 1500 }))
    const elapsed = Date.now() - started
    expect(error.message).toBe(
      `[${lab.unusedAddress}] connect: no SSH answer from root@${lab.unusedAddress}:22 within 1.5s (connect-timeout); is the host up and port 22 reachable?`,
    )
    expect(elapsed).toBeGreaterThanOrEqual(1400)
    expect(elapsed).toBeLessThan(4000)
  })

  it('names a rejected key', async () => {
    const stranger = await makeClientKey()
    const error = await failure(connect(lab.hosts[0]!.address, { privateKey: stranger.privateKey }))
    expect(error.message).toBe(
      `[${lab.hosts[0]!.address}] connect: root@${lab.hosts[0]!.address}:22 rejected the key (ssh-key): is its public key in ~root/.ssh/authorized_keys?`,
    )
  })

  it('uses a key with a passphrase', async () => {
    const key = await makeClientKey({ passphrase: 'open sesame' })
    await lab.hosts[0]!.authorize(key.publicKey)
    const host = await connect(lab.hosts[0]!.address, {
      privateKey: key.privateKey,
      passphrase: 'open sesame',
    })
    expect((await host.exec(cmd('id', '-un'), { step: 'whoami' })).stdout).toBe('root\n')
  })

  it('reaches a host through a jump host (proxy-jump), verifying both keys', async () => {
    const [one, two] = lab.hosts
    const jump = await connect(one!.address)
    const host = await connect(two!.address, {}, jump)
    await two!.sh('echo behind-the-jump > /srv/where')
    expect((await host.exec(cmd('cat', '/srv/where'), { step: 'read' })).stdout).toBe(
      'behind-the-jump\n',
    )
    // The target's key is still checked when it is reached through the jump host.
    const onlyJump = parseKnownHosts(one!.knownHostsLine)
    const error = await failure(connect(two!.address, { knownHosts: onlyJump }, jump))
    expect(error.message).toContain('is not in known-hosts')
  })
})
