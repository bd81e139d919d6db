/**
 * Rules that involve more than one input. Each skips inputs already reported on their own (see
 * `InputReader.valid`), so one mistake gives one message.
 */
import { INPUT_DEFAULTS } from './defaults.js'
import { show } from './parsers.js'
import { isEncryptedKey } from './private-key.js'
import type { InputReader } from './reader.js'
import { batchSizeOf, usesLoadBalancer, type Settings } from './settings.js'

/** `proxy-key`, its passphrase and `proxy-known-hosts` belong to a `proxy-jump`. */
function checkJumpHostCredentials(r: InputReader, s: Settings): void {
  const { proxyJump, proxyKey, proxyPassphrase } = s.ssh
  if (proxyJump === undefined && r.valid('proxy-jump')) {
    const given = (['proxy-key', 'proxy-key-passphrase', 'proxy-known-hosts'] as const).filter(
      (name) => r.text(name) !== '',
    )
    for (const name of given) {
      r.report(
        name,
        `Input '${name}' was given without 'proxy-jump' (expected a jump host ` +
          `'[user@]host[:port]' in 'proxy-jump' for it to apply to, or no '${name}').`,
      )
    }
  }
  if (proxyKey !== '' && proxyPassphrase === '' && isEncryptedKey(proxyKey)) {
    r.report(
      'proxy-key-passphrase',
      "Input 'proxy-key-passphrase' is required because 'proxy-key' is encrypted (expected the " +
        "key's passphrase, e.g. from a secret).",
    )
  }
  if (
    proxyJump !== undefined &&
    proxyPassphrase !== '' &&
    proxyKey === '' &&
    r.valid('proxy-key')
  ) {
    r.report(
      'proxy-key-passphrase',
      "Input 'proxy-key-passphrase' was given without 'proxy-key' (expected the jump host's " +
        "own key in 'proxy-key'; the passphrase of 'ssh-key' goes in 'ssh-key-passphrase').",
    )
  }
}

export function checkCombinations(r: InputReader, s: Settings): void {
  if (
    s.ssh.knownHosts === '' &&
    !s.ssh.insecureIgnoreHostKey &&
    r.valid('insecure-ignore-host-key')
  ) {
    r.report(
      'known-hosts',
      "Input 'known-hosts' is required unless 'insecure-ignore-host-key' is true (expected the " +
        "hosts' public key lines, e.g. the output of 'ssh-keyscan web1.example.com').",
    )
  }
  if (s.ssh.passphrase === '' && s.ssh.privateKey !== '' && isEncryptedKey(s.ssh.privateKey)) {
    r.report(
      'ssh-key-passphrase',
      "Input 'ssh-key-passphrase' is required because 'ssh-key' is encrypted (expected the " +
        "key's passphrase, e.g. from a secret).",
    )
  }
  checkJumpHostCredentials(r, s)
  if (s.app.startCommand === '' && !s.rollback.enabled && r.valid('rollback', 'rollback-to')) {
    r.report(
      'start-command',
      "Input 'start-command' is required unless 'rollback' is true (expected the command that " +
        "starts the app on $PORT, e.g. 'node server.js').",
    )
  }
  if (s.strategy === 'reload' && s.app.reloadCommand === '') {
    r.report(
      'reload-command',
      "Input 'reload-command' is required when 'strategy' is reload (expected the command that " +
        "makes the app reload itself, e.g. 'kill -USR2 $(cat tmp/pids/puma.pid)').",
    )
  }
  if (s.app.artifactUrl !== '' && s.app.releasePath !== INPUT_DEFAULTS['release-path']) {
    r.report(
      'artifact-url',
      `Input 'artifact-url': ${show(s.app.artifactUrl)} was given together with 'release-path' ` +
        `${show(s.app.releasePath)} (expected only one of them: the release comes from one place).`,
    )
  }
  checkReleaseSource(r, s)
  if (s.slots.bluePort === s.slots.greenPort && r.valid('blue-port', 'green-port')) {
    r.report(
      'green-port',
      `Input 'green-port': ${show(r.text('green-port'))} is the same port as 'blue-port' ` +
        `${show(r.text('blue-port'))} (expected two different ports, one per slot).`,
    )
  }
  const { verifyPort } = s.nginx
  if (
    (verifyPort === s.slots.bluePort || verifyPort === s.slots.greenPort) &&
    r.valid('nginx-verify-port', 'blue-port', 'green-port')
  ) {
    r.report(
      'nginx-verify-port',
      `Input 'nginx-verify-port': ${verifyPort} is also a slot port ('blue-port' or 'green-port') ` +
        `(expected a third port, used by nginx to let the action verify a switch).`,
    )
  }
  checkSite(r, s)
  if (s.health.intervalMs >= s.health.timeoutMs && r.valid('health-interval', 'health-timeout')) {
    r.report(
      'health-interval',
      `Input 'health-interval': ${show(r.text('health-interval'))} is not shorter than ` +
        `'health-timeout' ${show(r.text('health-timeout'))} (expected an interval below the ` +
        `timeout, so that a slot is checked more than once).`,
    )
  }
  checkBatchSize(r, s)
  checkWorkers(r, s)
  checkWatch(r, s)
  const canaryHosts = s.canary.hosts
  const hostCount = s.hosts.length
  // A percentage is rounded up, as batch-size is.
  const canaryCount =
    canaryHosts?.kind === 'percent'
      ? Math.ceil((hostCount * canaryHosts.value) / 100)
      : (canaryHosts?.value ?? 0)
  if (canaryCount >= hostCount && r.valid('hosts')) {
    r.report(
      'canary-hosts',
      `Input 'canary-hosts': ${show(r.text('canary-hosts'))} is not fewer than the ${hostCount} ` +
        `host${hostCount === 1 ? '' : 's'} in 'hosts' (expected fewer hosts than 'hosts' lists, so ` +
        `that some stay on the old version during the bake).`,
    )
  }
}

/**
 * `worker-hosts` run the release's workers: they need `worker-command` (a rollback restarts the
 * recorded ones), and are not also web hosts (`hosts`); `worker-stop-command` needs workers.
 */
function checkWorkers(r: InputReader, s: Settings): void {
  const { commands, hosts } = s.workers
  const none = commands.length === 0 && !s.rollback.enabled
  if (none && hosts.length > 0 && r.valid('worker-command', 'worker-hosts')) {
    r.report(
      'worker-hosts',
      "Input 'worker-hosts' was given without 'worker-command' (expected the workers those " +
        "hosts run, one 'name: command' per line in 'worker-command').",
    )
  }
  if (none && s.workers.stopCommand !== '' && r.valid('worker-command')) {
    r.report(
      'worker-stop-command',
      "Input 'worker-stop-command' was given without 'worker-command' (expected the workers " +
        "it stops, one 'name: command' per line in 'worker-command').",
    )
  }
  const web = new Set(s.hosts.map((h) => `${h.host}:${h.port}`))
  for (const h of hosts) {
    if (web.has(`${h.host}:${h.port}`) && r.valid('hosts', 'worker-hosts')) {
      r.report(
        'worker-hosts',
        `Input 'worker-hosts': ${show(h.label)} is also in 'hosts' (expected hosts that run only ` +
          "workers; a host in 'hosts' runs the workers beside its slots already).",
      )
    }
  }
}

/**
 * The watch judges the new slot while the previous one stays warm, so the reload strategy (one
 * slot, reloaded in place) has nothing to switch back to; watch-check-command runs in a watch.
 */
function checkWatch(r: InputReader, s: Settings): void {
  const watching = s.watch.durationMs > 0
  if (watching && s.strategy === 'reload' && r.valid('watch', 'strategy')) {
    r.report(
      'watch',
      `Input 'watch': ${show(r.text('watch'))} does not apply to strategy reload (expected '0s' ` +
        'with reload, which reloads the one slot in place and keeps no previous slot to switch ' +
        'back to; blue-green, rolling and canary can watch).',
    )
  }
  if (!watching && s.watch.checkCommand !== '' && r.valid('watch')) {
    r.report(
      'watch-check-command',
      "Input 'watch-check-command' was given without 'watch' (expected a 'watch' duration like " +
        "'60s' for it to run in, or no 'watch-check-command').",
    )
  }
}

/**
 * Batches behind a load balancer must leave it at least one server: a batch that would take
 * every host out at once is refused before any host is touched. A rollback moves no batches.
 */
function checkBatchSize(r: InputReader, s: Settings): void {
  const { rolling, hosts } = s
  if (s.rollback.enabled || !usesLoadBalancer(s)) return
  if (!r.valid('hosts', 'batch-size', 'rollback', 'rollback-to')) return
  const size = batchSizeOf(rolling.batchSize, hosts.length)
  if (size < hosts.length) return
  r.report(
    'batch-size',
    `Input 'batch-size': ${size} of ${hosts.length} host(s) per batch would take every server out ` +
      `of the load balancer at once; use a smaller batch-size (or more hosts).`,
  )
}

/** `exclude` applies to a packed directory; `artifact-sha256` and `artifact-token` to a URL. */
function checkReleaseSource(r: InputReader, s: Settings): void {
  const { artifactUrl, exclude, artifactSha256, artifactToken } = s.app
  if (artifactUrl !== '' && exclude.length > 0) {
    r.report(
      'exclude',
      "Input 'exclude' was given together with 'artifact-url' (expected exclude only with a " +
        "'release-path' directory that the action packs; a downloaded archive ships as it is).",
    )
  }
  if (artifactUrl === '' && artifactSha256 !== '' && r.valid('artifact-url')) {
    r.report(
      'artifact-sha256',
      "Input 'artifact-sha256' was given without 'artifact-url' (expected it only with " +
        'artifact-url, to check the download).',
    )
  }
  if (artifactUrl === '' && artifactToken !== '' && r.valid('artifact-url')) {
    r.report(
      'artifact-token',
      "Input 'artifact-token' was given without 'artifact-url' (expected it only with " +
        'artifact-url, to authorize the download).',
    )
  }
}

/** The managed site: only with `nginx-site`, on its own port and file. */
function checkSite(r: InputReader, s: Settings): void {
  const { serverNames, listen, file } = s.site
  if (serverNames.length === 0) {
    if (r.text('nginx-site-file') !== '' && r.valid('nginx-site', 'nginx-site-file')) {
      r.report(
        'nginx-site-file',
        `Input 'nginx-site-file': ${show(file)} was given without 'nginx-site' (expected ` +
          `'nginx-site' with the site's server names, or no 'nginx-site-file').`,
      )
    }
    return
  }
  const listenPort = Number(/(\d+)$/.exec(listen)?.[1])
  const taken = [
    ['blue-port', s.slots.bluePort],
    ['green-port', s.slots.greenPort],
    ['nginx-verify-port', s.nginx.verifyPort],
  ] as const
  for (const [input, port] of taken) {
    if (listenPort === port && r.valid('nginx-site-listen', input)) {
      r.report(
        'nginx-site-listen',
        `Input 'nginx-site-listen': ${show(listen)} uses port ${port}, which is '${input}' ` +
          `(expected a port the slots and the verification server do not use, like 80).`,
      )
    }
  }
  if (file === s.nginx.upstreamFile && r.valid('nginx-site-file', 'nginx-upstream-file')) {
    r.report(
      'nginx-site-file',
      `Input 'nginx-site-file': ${show(file)} is also 'nginx-upstream-file' (expected two ` +
        `different files: the site and the upstream it proxies to).`,
    )
  }
}
