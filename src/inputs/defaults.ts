/**
 * The inputs of the action by name, with their raw defaults as action.yml declares them. Adding
 * an input starts here (then its `Settings` field in settings.ts and its parser in parse.ts).
 */

const DEFAULTS = {
  // Connection
  hosts: '',
  'ssh-user': 'root',
  'ssh-port': '22',
  'ssh-key': '',
  'ssh-key-passphrase': '',
  'known-hosts': '',
  'insecure-ignore-host-key': 'false',
  'proxy-jump': '',
  // Jump host's own credentials ('' = those of the targets)
  'proxy-key': '',
  'proxy-key-passphrase': '',
  'proxy-known-hosts': '',
  'connect-timeout': '20s',
  'max-parallel': '10',
  // App
  'app-name': '',
  'deploy-path': '',
  version: '',
  'build-command': '',
  'release-path': '.',
  'artifact-url': '',
  // What ships: patterns left out of release-path; checksum and token of artifact-url
  exclude: '',
  // Folders whose files stay served across versions (fingerprinted assets)
  'asset-path': '',
  'artifact-sha256': '',
  'artifact-token': '',
  'start-command': '',
  'stop-command': '',
  'reload-command': '',
  env: '',
  'secret-env': '',
  'migrate-command': '',
  'post-deploy-command': '',
  'smoke-command': '',
  'process-manager': 'auto',
  // Background workers of the release, and hosts that run only them
  'worker-command': '',
  'worker-stop-command': '',
  'worker-stop-timeout': '30s',
  'worker-hosts': '',
  'keep-releases': '5',
  // Strategy
  strategy: 'blue-green',
  'batch-size': '1',
  'load-balancer': '',
  'lb-upstream-file': '',
  'lb-backend-port': '80',
  'on-failure': 'rollback',
  'canary-weight': '10,50,100',
  'canary-step-duration': '60s',
  'canary-max-error-rate': '1%',
  'canary-min-requests': '20',
  'canary-hosts': '',
  'canary-sticky-cookie': '',
  'canary-check-command': '',
  'canary-access-log': '',
  'canary-max-latency': '',
  // The watch after the switch
  watch: '0s',
  'watch-max-error-rate': '5%',
  'watch-min-requests': '20',
  'watch-max-latency': '',
  'watch-check-command': '',
  // Slots and health
  'blue-port': '3001',
  'green-port': '3002',
  'health-path': '/health',
  'version-path': '',
  'health-timeout': '60s',
  'health-interval': '1s',
  'drain-timeout': '30s',
  'stop-timeout': '10s',
  'keep-previous': 'stop',
  // nginx
  'nginx-upstream-file': '',
  'nginx-test-command': 'nginx -t',
  'nginx-reload-command': 'nginx -s reload',
  'nginx-verify-port': '',
  // Managed nginx site
  'nginx-site': '',
  'nginx-site-listen': '80',
  'nginx-site-file': '',
  sudo: 'false',
  force: 'false',
  // Lock, rollback, GitHub, misc
  'lock-timeout': '5m',
  rollback: 'false',
  'rollback-to': '',
  environment: '',
  url: '',
  'github-token': '${{ github.token }}',
  'dry-run': 'false',
} as const

/** The name of one input of the action, as written in a workflow's `with:`. */
export type InputName = keyof typeof DEFAULTS

/**
 * The raw default of every input, exactly as action.yml declares it ('' = no default). The runner
 * passes these itself; `parseInputs` applies them too, so local runs and tests behave the same.
 */
export const INPUT_DEFAULTS: Readonly<Record<InputName, string>> = DEFAULTS
