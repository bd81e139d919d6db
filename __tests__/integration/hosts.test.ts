import { execFile } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { get } from 'node:http'
import { connect } from 'node:net'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensurePackages, startLab, type Lab } from '../../test/hosts/index.js'

const exec = promisify(execFile)

/** 'open' when something accepts TCP on address:port, else the error code (or 'timeout'). */
function tcp(host: string, port: number, timeoutMs = 1500): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs })
    const done = (state: string) => (socket.destroy(), resolve(state))
    socket.once('connect', () => done('open'))
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message))
    socket.once('timeout', () => done('timeout'))
  })
}

function httpGet(host: string, path: string): Promise<{ status?: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host, port: 80, path, agent: false, timeout: 2000 }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode, body }))
    }).on('error', reject)
  })
}

const ipOutput = async (...args: string[]) => (await exec('ip', args)).stdout

describe('test/hosts lab', () => {
  let lab: Lab
  const [host1, host2] = [() => lab.hosts[0], () => lab.hosts[1]]

  beforeAll(async () => {
    await ensurePackages()
    lab = await startLab({ hosts: 2, name: 'hosts-test' })
  })
  afterAll(() => lab?.stop())

  it('assigns addresses, keys and known_hosts', () => {
    expect(lab.hosts.map((h) => h.name)).toEqual(['host1', 'host2'])
    const prefix = lab.subnet.replace(/\.0\/24$/, '')
    expect(lab.subnet).toMatch(/^10\.213\.\d+\.0\/24$/)
    expect(lab.hosts.map((h) => h.address)).toEqual([`${prefix}.10`, `${prefix}.11`])
    expect(host1().hostKeyLine).toMatch(/^ssh-ed25519 [A-Za-z0-9+/=]+$/)
    expect(host1().hostKeyLine).not.toBe(host2().hostKeyLine)
    expect(lab.knownHosts).toBe(`${host1().knownHostsLine}\n${host2().knownHostsLine}\n`)
    expect(lab.privateKey).toContain('BEGIN OPENSSH PRIVATE KEY')
    expect(readFileSync(host1().authorizedKeysPath, 'utf8')).toContain(lab.publicKey)
  })

  it('answers SSH and HTTP on every host from the root namespace', async () => {
    for (const h of lab.hosts) {
      expect(await tcp(h.address, 22)).toBe('open')
      expect(await httpGet(h.address, '/_lab/ping')).toEqual({ status: 200, body: 'ok' })
    }
  })

  it('gives each host a private /srv', async () => {
    await host1().sh('echo from-host1 > /srv/marker')
    expect((await host1().sh('cat /srv/marker')).stdout).toBe('from-host1\n')
    expect(readFileSync(`${host1().dir}/srv/marker`, 'utf8')).toBe('from-host1\n')
    expect((await host2().sh('test -e /srv/marker', { allowFail: true })).exitCode).toBe(1)
    expect(existsSync('/srv/marker')).toBe(false)
  })

  it('runs nginx -t and reload on the host its own nginx', async () => {
    const { stderr } = await host1().sh('nginx -t && nginx -s reload')
    expect(stderr).toContain('test is successful')
    expect((await host1().sh('hostname')).stdout.trim()).toBe('host1')
    expect(await httpGet(host1().address, '/_lab/ping')).toEqual({ status: 200, body: 'ok' })
  })

  it('lets hosts reach each other', async () => {
    const probe = `timeout 2 bash -c '</dev/tcp/${host2().address}/22' && echo reachable`
    expect((await host1().sh(probe)).stdout).toBe('reachable\n')
  })

  it('logs in with the real ssh client, checking known_hosts', async () => {
    await host1().sh('echo over-ssh > /srv/marker')
    const { stdout } = await exec('ssh', [
      ...['-i', lab.privateKeyPath, '-o', `UserKnownHostsFile=${lab.knownHostsPath}`],
      ...['-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5'],
      `root@${host1().address}`,
      'cat /srv/marker && hostname && nginx -t 2>&1 | tail -1',
    ])
    expect(stdout).toBe(
      'over-ssh\nhost1\nnginx: configuration file /etc/nginx/nginx.conf test is successful\n',
    )
  })

  it('makes the unused address hang', async () => {
    expect(await tcp(lab.unusedAddress, 22, 500)).toBe('timeout')
  })

  it('stops and restarts a host', async () => {
    await host2().stop()
    expect(host2().pid).toBeUndefined()
    expect(await tcp(host2().address, 22)).toMatch(/ECONNREFUSED|timeout/)
    await expect(host2().sh('true')).rejects.toThrow(/stopped/)
    await host2().start()
    expect(await tcp(host2().address, 22)).toBe('open')
    expect((await host2().sh('hostname')).stdout.trim()).toBe('host2')
  })

  it('removes its namespaces and bridge on stop', async () => {
    await lab.stop()
    await lab.stop() // idempotent
    expect(await ipOutput('netns', 'list')).not.toContain(`dzd-${lab.id}-`)
    expect(await ipOutput('-o', 'link', 'show')).not.toContain(`dzd${lab.id}`)
    expect(existsSync(lab.dir)).toBe(false)
  })
})

describe('test/hosts key variants', () => {
  let lab: Lab
  beforeAll(async () => {
    lab = await startLab({ hosts: 1, hostKeyType: 'ecdsa' })
  })
  afterAll(() => lab?.stop())

  it('offers only the requested host key type', async () => {
    const [host] = lab.hosts
    expect(host.hostKeyLine).toMatch(/^ecdsa-sha2-nistp256 /)
    expect(host.hostKeyLine).toBe(host.hostKeys.ecdsa)
    const { stdout } = await exec('ssh-keyscan', ['-T', '3', host.address])
    expect(
      stdout
        .trim()
        .split('\n')
        .map((line) => line.split(' ')[1]),
    ).toEqual(['ecdsa-sha2-nistp256'])
  })

  it('logs in with an extra passphrase key and a hashed known_hosts', async () => {
    const [host] = lab.hosts
    const key = await lab.makeClientKey({ type: 'rsa', passphrase: 'sesame' })
    expect(key.publicKey).toMatch(/^ssh-rsa /)
    await expect(exec('ssh-keygen', ['-y', '-P', 'wrong', '-f', key.path])).rejects.toThrow()
    host.authorize(key.publicKey)
    const hashed = await lab.hashedKnownHosts()
    expect(hashed).toMatch(/^\|1\|\S+ ecdsa-sha2-nistp256 /)
    expect(hashed).not.toContain(host.address)
    const knownHosts = `${lab.dir}/known_hosts.hashed`
    const askpass = `${lab.dir}/askpass.sh`
    writeFileSync(knownHosts, hashed)
    writeFileSync(askpass, '#!/bin/sh\necho sesame\n', { mode: 0o755 })
    const { stdout } = await exec(
      'ssh',
      [
        ...['-i', key.path, '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${knownHosts}`],
        ...['-o', 'StrictHostKeyChecking=yes', '-o', 'ConnectTimeout=5'],
        `root@${host.address}`,
        'hostname',
      ],
      { env: { ...process.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force' } },
    )
    expect(stdout).toBe('host1\n')
  })
})

describe('test/hosts systemd hosts', () => {
  let lab: Lab
  beforeAll(async () => {
    lab = await startLab({ hosts: 1, name: 'hosts-systemd', systemd: true })
  })
  afterAll(() => lab?.stop())

  it('boots systemd as pid 1 in its own namespaces, and leaves the machine alone', async () => {
    const [host] = lab.hosts
    const { stdout } = await host.sh(
      'cat /proc/1/comm; systemctl is-system-running; systemctl is-active lab-sshd lab-nginx; hostname; grep ^0:: /proc/1/cgroup; ls /run/systemd/system >/dev/null && echo has-systemd',
    )
    expect(stdout).toBe('systemd\nrunning\nactive\nactive\nhost1\n0::/init.scope\nhas-systemd\n')
    // Read-only where it would touch the machine; private where the host writes.
    const ro = await host.sh('touch /usr/dzd-ro-test; echo 1 > /proc/sys/vm/swappiness', {
      allowFail: true,
    })
    expect(ro.stderr).toContain('Read-only file system')
    expect(ro.exitCode).not.toBe(0)
    expect(existsSync('/run/systemd/system')).toBe(false)
    expect(existsSync('/usr/dzd-ro-test')).toBe(false)
  })

  it('removes its cgroup on stop', async () => {
    const cgroupsOfLab = () =>
      readFileSync('/proc/self/mountinfo', 'utf8').includes('cgroup2')
        ? exec('sh', ['-c', `find /sys/fs/cgroup -maxdepth 2 -name 'dzd-${lab.id}-*'`])
        : Promise.resolve({ stdout: '' })
    expect((await cgroupsOfLab()).stdout).not.toBe('')
    await lab.stop()
    expect((await cgroupsOfLab()).stdout).toBe('')
  })
})
