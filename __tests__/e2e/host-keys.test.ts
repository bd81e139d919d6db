/**
 * Host keys as users already have them, end to end (the bundle, `dry-run: true`, real sshd):
 * SHA256 fingerprint pins in `known-hosts`, and a jump host with its own key and known_hosts;
 * then a real deploy through that jump host on a runner whose PATH holds no program at all, and
 * the post step of a killed run repairing the host through it.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorLine, runAction } from '../../test/action-runner.js'
import { deployInputs, hostState, makeRelease, servedVersion } from '../../test/deploy-fixture.js'
import { startLab, type ClientKey, type Lab, type LabHost } from '../../test/hosts/index.js'

let lab: Lab
let jump: LabHost
let target: LabHost
/** The only key the jump host accepts; the target never accepts it. */
let jumpKey: ClientKey

/** `ssh-keygen -lf` of the host key sshd offers: `256 SHA256:... comment (ED25519)`. */
function keygenLine(host: LabHost): string {
  const pub = join(host.dir, 'ssh/ssh_host_ed25519_key.pub')
  return execFileSync('ssh-keygen', ['-lf', pub], { encoding: 'utf8' }).trim()
}
const fingerprintOf = (host: LabHost) => keygenLine(host).split(/\s+/)[1]!

/** Where the logins the host's sshd accepted came from, in order (its log, LogLevel VERBOSE). */
function loginSources(host: LabHost): string[] {
  const log = readFileSync(join(host.dir, 'ssh/sshd.log'), 'utf8')
  return [...log.matchAll(/Accepted publickey for \S+ from (\S+) port/g)].map((m) => m[1]!)
}

beforeAll(async () => {
  lab = await startLab({ hosts: 2, name: 'host-keys' })
  ;[jump, target] = lab.hosts as [LabHost, LabHost]
  jumpKey = await lab.makeClientKey({ type: 'ecdsa', comment: 'jump-only' })
  // The jump host takes only its own key: the deploy key (ssh-key) no longer opens it.
  writeFileSync(jump.authorizedKeysPath, `${jumpKey.publicKey.trim()}\n`)
})

afterAll(async () => {
  await lab?.stop()
})

function inputs(overrides: Record<string, string>): Record<string, string> {
  return {
    hosts: target.address,
    'ssh-key': lab.privateKey,
    'app-name': 'shop',
    'start-command': 'node server.js',
    version: 'v1.0.0',
    'dry-run': 'true',
    ...overrides,
  }
}

describe('SHA256 fingerprint pins in known-hosts', () => {
  it('connects when the pin is the fingerprint of the key the host offers', async () => {
    expect(fingerprintOf(target)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/)
    for (const pin of [
      fingerprintOf(target),
      `${target.address} ${fingerprintOf(target)}`,
      keygenLine(target),
    ]) {
      const { main } = await runAction(inputs({ 'known-hosts': pin }))
      expect(errorLine(main.log), pin).toBe('')
      expect(main.exitCode).toBe(0)
      expect(main.outputs.status).toBe('planned')
    }
  })

  it('refuses a host whose key has another fingerprint, naming both', async () => {
    const wrong = fingerprintOf(jump)
    const { main } = await runAction(inputs({ 'known-hosts': wrong }))
    expect(main.exitCode).toBe(1)
    const error = errorLine(main.log)
    expect(error).toContain(
      `[${target.address}] connect: HOST KEY MISMATCH for ${target.address}: known-hosts has the pin ${wrong} but the host presented ssh-ed25519 ${fingerprintOf(target)}.`,
    )
    expect(error).toContain('pin its ssh-ed25519 key instead')
  })

  it('refuses a malformed pin before contacting any host', async () => {
    const { main } = await runAction(inputs({ 'known-hosts': 'SHA256:tooshort' }))
    expect(main.exitCode).toBe(1)
    expect(errorLine(main.log)).toContain(
      "Input 'known-hosts': line 1 'SHA256:tooshort' is not a complete SHA256 fingerprint",
    )
  })
})

describe('a jump host with its own key (proxy-key) and known_hosts (proxy-known-hosts)', () => {
  it('reaches the target through a jump host that takes another key than the target', async () => {
    const { main } = await runAction(
      inputs({
        'known-hosts': target.knownHostsLine,
        'proxy-jump': jump.address,
        'proxy-key': jumpKey.privateKey,
        'proxy-known-hosts': `${jump.address} ${fingerprintOf(jump)}`,
      }),
    )
    expect(errorLine(main.log)).toBe('')
    expect(main.exitCode).toBe(0)
    expect(main.outputs.status).toBe('planned')
    expect(JSON.parse(main.outputs.hosts!)).toMatchObject([
      { host: target.address, result: 'ready' },
    ])
  })

  it('without proxy-key, names ssh-key as the key the jump host rejected', async () => {
    const { main } = await runAction(
      inputs({
        'known-hosts': `${target.knownHostsLine}\n${jump.knownHostsLine}`,
        'proxy-jump': jump.address,
      }),
    )
    expect(main.exitCode).toBe(1)
    expect(errorLine(main.log)).toContain(
      `jump host ${jump.address}: [${jump.address}] connect: root@${jump.address}:22 rejected the key (ssh-key)`,
    )
  })

  it('names proxy-key when the jump host rejects it', async () => {
    const stranger = await lab.makeClientKey({ type: 'rsa' })
    const { main } = await runAction(
      inputs({
        'known-hosts': `${target.knownHostsLine}\n${jump.knownHostsLine}`,
        'proxy-jump': jump.address,
        'proxy-key': stranger.privateKey,
      }),
    )
    expect(main.exitCode).toBe(1)
    expect(errorLine(main.log)).toContain(
      `root@${jump.address}:22 rejected the key (proxy-key): is its public key in ~root/.ssh/authorized_keys?`,
    )
  })

  it("checks the jump host's key against proxy-known-hosts, not known-hosts", async () => {
    // known-hosts would accept the jump host; proxy-known-hosts pins another key for it.
    const { main } = await runAction(
      inputs({
        'known-hosts': `${target.knownHostsLine}\n${jump.knownHostsLine}`,
        'proxy-jump': jump.address,
        'proxy-key': jumpKey.privateKey,
        'proxy-known-hosts': fingerprintOf(target),
      }),
    )
    expect(main.exitCode).toBe(1)
    expect(errorLine(main.log)).toContain(`HOST KEY MISMATCH for ${jump.address}`)
  })
})

describe('the runner side needs nothing but node (macOS and Windows runners alike)', () => {
  let emptyPath: string
  beforeAll(() => {
    emptyPath = mkdtempSync(join(tmpdir(), 'dzd-empty-path-'))
  })
  afterAll(() => {
    rmSync(emptyPath, { recursive: true, force: true })
  })

  it('packs, ships and deploys through the jump host with no sh, tar or ssh on PATH', async () => {
    const release = makeRelease('v1')
    try {
      const { main, post } = await runAction(
        deployInputs(lab, [target], release, {
          version: 'v1',
          'known-hosts': target.knownHostsLine,
          'proxy-jump': jump.address,
          'proxy-key': jumpKey.privateKey,
          'proxy-known-hosts': keygenLine(jump),
        }),
        { env: { PATH: emptyPath } },
      )
      expect(errorLine(main.log)).toBe('')
      expect(main.exitCode).toBe(0)
      expect(main.outputs).toMatchObject({ status: 'deployed', version: 'v1', 'live-slot': 'blue' })
      expect(post.exitCode).toBe(0)
      expect(await hostState(target)).toMatchObject({ liveSlot: 'blue' })
    } finally {
      rmSync(release, { recursive: true, force: true })
    }
  })

  it('names sh when build-command needs it and the runner has none', async () => {
    const release = makeRelease('v2')
    try {
      const { main } = await runAction(
        deployInputs(lab, [target], release, {
          version: 'v2',
          'build-command': 'npm run build',
        }),
        { env: { PATH: emptyPath } },
      )
      expect(main.exitCode).toBe(1)
      expect(errorLine(main.log)).toContain(
        "build-command runs with 'sh -c' on the runner, and there is no sh on its PATH",
      )
    } finally {
      rmSync(release, { recursive: true, force: true })
    }
  })
})

describe('the post step through the jump host', () => {
  it('a run killed during the switch: the post step reaches the host through the jump host and puts nginx back', async () => {
    const throughJump = {
      'known-hosts': target.knownHostsLine,
      'proxy-jump': jump.address,
      'proxy-key': jumpKey.privateKey,
      'proxy-known-hosts': keygenLine(jump),
    }
    const first = makeRelease('v1-before-kill')
    try {
      const { main } = await runAction(
        deployInputs(lab, [target], first, { version: 'v1-before-kill', ...throughJump }),
      )
      expect(errorLine(main.log)).toBe('')
    } finally {
      rmSync(first, { recursive: true, force: true })
    }
    const before = await servedVersion(target)
    const live = (await hostState(target)).liveSlot as string
    const idle = live === 'blue' ? 'green' : 'blue'
    // The first reload hangs after reloading (the marker file is used up): the run dies between
    // reload and record. The post step's reload then returns at once.
    await target.sh('touch /srv/hang-once')
    const loginsBefore = loginSources(target).length
    const release = makeRelease('v2-killed')
    try {
      const killed = await runAction(
        deployInputs(lab, [target], release, {
          version: 'v2-killed',
          ...throughJump,
          'nginx-reload-command':
            'nginx -s reload && if [ -f /srv/hang-once ]; then rm /srv/hang-once; sleep 30; fi',
        }),
        { killAfterMs: 6000 },
      )
      expect(killed.main.exitCode).toBeNull()
      expect(errorLine(killed.post.log)).toBe('')
      expect(killed.post.exitCode).toBe(0)
      expect(killed.post.log).toContain(
        `post: [${target.address}] nginx sends traffic to the live ${live} slot again; stopped the ${idle} slot the run had started`,
      )
      expect(await servedVersion(target)).toBe(before)
      expect(await hostState(target)).toMatchObject({ liveSlot: live })
      // Both steps reached the host from the jump host (the main step, then the post step).
      const logins = loginSources(target).slice(loginsBefore)
      expect(logins.filter((from) => from !== jump.address)).toEqual([])
      expect(logins.length).toBeGreaterThanOrEqual(2)
    } finally {
      rmSync(release, { recursive: true, force: true })
    }
  })
})
