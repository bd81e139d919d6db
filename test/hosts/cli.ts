/**
 * Manual lab control.
 *   npx tsx test/hosts/cli.ts up [N] [--key-type ed25519|ecdsa|rsa] [--systemd] [--rtt MS]
 *     start N hosts (with --systemd: systemd as their pid 1; with --rtt: SSH to them through a
 *     proxy that adds MS of round-trip time), stay up until Ctrl-C
 *   npx tsx test/hosts/cli.ts gc   remove leftovers of crashed runs (labs whose owner process is gone)
 */
import { gcLabs, startLab, type KeyType } from './index.js'

async function up(args: string[]): Promise<void> {
  const keyIndex = args.indexOf('--key-type')
  const hostKeyType = keyIndex >= 0 ? (args.splice(keyIndex, 2)[1] as KeyType) : undefined
  const systemdIndex = args.indexOf('--systemd')
  const systemd = systemdIndex >= 0 && args.splice(systemdIndex, 1).length > 0
  const rttIndex = args.indexOf('--rtt')
  const rttMs = rttIndex >= 0 ? Number(args.splice(rttIndex, 2)[1]) : undefined
  const started = Date.now()
  const lab = await startLab({
    hosts: Number(args[0] ?? 2),
    hostKeyType,
    name: 'cli',
    systemd,
    rttMs,
  })
  const info = {
    id: lab.id,
    subnet: lab.subnet,
    startedInMs: Date.now() - started,
    privateKeyPath: lab.privateKeyPath,
    knownHostsPath: lab.knownHostsPath,
    unusedAddress: lab.unusedAddress,
    rttMs: lab.rttMs,
    hosts: lab.hosts.map(({ name, address, dir, netns, pid, hostKeyLine, ssh, sshTarget }) => ({
      ...{ name, address, dir, netns, pid, hostKeyLine, sshTarget },
      ssh: `ssh -i ${lab.privateKeyPath} -o UserKnownHostsFile=${lab.knownHostsPath} -p ${ssh.port} root@${ssh.host}`,
      shell: `nsenter --target ${pid} --net --mount --uts bash`,
    })),
  }
  console.log(JSON.stringify(info, null, 2))
  console.error('lab is up; Ctrl-C to tear it down')
  const shutdown = () => void lab.stop().then(() => process.exit(0))
  process.once('SIGINT', shutdown).once('SIGTERM', shutdown)
  setInterval(() => {}, 1 << 30) // keep the event loop alive
}

const [command, ...args] = process.argv.slice(2)
if (command === 'up') await up(args)
else if (command === 'gc') {
  const removed = gcLabs()
  console.log(removed.length ? `removed labs: ${removed.join(' ')}` : 'nothing to remove')
} else {
  console.error('usage: cli.ts up [N] [--key-type ed25519|ecdsa|rsa] [--systemd] [--rtt MS] | gc')
  process.exit(2)
}
