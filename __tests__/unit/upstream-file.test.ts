import { describe, expect, it } from 'vitest'
import { RemoteCommandError } from '../../src/common/errors.js'
import { renderSite, renderUpstream, upstreamPlaceholder } from '../../src/nginx/render.js'
import {
  UpstreamFile,
  nginxCommands,
  type FileRole,
  type NginxHost,
} from '../../src/nginx/upstream-file.js'
import { reloadNginx, restoreUpstream } from '../../src/remote/commands/nginx.js'
import { SWITCH_FAILED, switchUpstream } from '../../src/remote/commands/switch.js'
import type { Shell } from '../../src/remote/shell.js'
import type { ExecOptions, ExecResult, HttpResponse } from '../../src/ssh/connection.js'

const NGINX = { test: 'nginx -t', reload: 'nginx -s reload', sudo: false }
const FILE = '/etc/nginx/conf.d/shop.upstream.conf'
const BACKUP = '/srv/shop/.deploy/upstream.bak'

/**
 * What the switch needs of a host, recording every step in order: `exec`/`tryExec` by step name,
 * `httpGet` as `verify`. `fail` names the steps that exit 1; the switch script reports
 * `switchOutput` (the next one each time; then `OK`), with exit SWITCH_FAILED after a `FAILED`
 * line; nginx answers from `upstream`.
 */
class FakeHost implements NginxHost {
  readonly name = 'app1'
  readonly steps: string[] = []
  readonly commands: { step: string; text: string; stdin?: string }[] = []
  upstream = '127.0.0.1:3001'

  constructor(
    private readonly fail: string[] = [],
    private readonly switchOutput: string[] = [],
  ) {}

  async tryExec(command: Shell, options: ExecOptions): Promise<ExecResult> {
    this.steps.push(options.step)
    this.commands.push({ step: options.step, text: command.text, stdin: options.stdin })
    if (command.text.includes('echo "STEP install"')) {
      const stdout = this.switchOutput.shift() ?? 'CLIENT none\nSTEP install\nSTEP test\nOK\n'
      const failed = /^FAILED (\w+) (\d+)/m.exec(stdout)
      if (failed === null) return { exitCode: 0, stdout, stderr: '' }
      return { exitCode: SWITCH_FAILED, stdout, stderr: `${failed[1]} failed` }
    }
    const exitCode = this.fail.includes(options.step) ? 1 : 0
    return { exitCode, stdout: '', stderr: exitCode ? `${options.step} failed` : '' }
  }

  async exec(command: Shell, options: ExecOptions): Promise<ExecResult> {
    const result = await this.tryExec(command, options)
    if (result.exitCode !== 0) {
      throw new RemoteCommandError(this.name, options.step, result.exitCode, result.stderr)
    }
    return result
  }

  async httpGet(): Promise<HttpResponse> {
    this.steps.push('verify')
    return { status: 200, body: '', headers: { 'x-deploy-upstream': this.upstream } }
  }
}

function upstreamFile(
  host: NginxHost,
  backups: 'first' | 'each' = 'first',
  role: FileRole = 'upstream',
): UpstreamFile {
  return new UpstreamFile(host, {
    role,
    file: FILE,
    backup: BACKUP,
    nginx: NGINX,
    backups,
    steps: { install: 'install', reload: 'reload', all: 'install', restore: 'restore' },
    verify: { port: 3003, path: '/health', timeoutMs: 200 },
    upstreamName: role === 'upstream' ? 'shop' : undefined,
  })
}

const expectServer = (expected: string) => (answer: { upstream: string }) =>
  answer.upstream === expected ? undefined : `answered from ${answer.upstream}`

describe('nginxCommands', () => {
  it('takes the test and reload commands and sudo from the inputs', () => {
    const settings = {
      nginx: { testCommand: 'nginx -t', reloadCommand: 'systemctl reload nginx' },
      sudo: true,
    } as Parameters<typeof nginxCommands>[0]
    expect(nginxCommands(settings)).toEqual({
      test: 'nginx -t',
      reload: 'systemctl reload nginx',
      sudo: true,
    })
  })
})

/** The switch script as UpstreamFile runs it for an install (and for switchTo, stage all). */
const script = (stage: 'install' | 'all', backupMode: 'take' | 'keep', content: string) =>
  switchUpstream({
    stage,
    file: FILE,
    backup: BACKUP,
    backupMode,
    nginx: NGINX,
    client: 'none',
    content,
  }).text

const TEST_FAILED = 'CLIENT none\nSTEP install\nSTEP test\nFAILED test 1\nRESTORED\n'

describe('UpstreamFile: the switch', () => {
  it('installs, tests and reloads in one script, then verifies, with the exact command', async () => {
    const host = new FakeHost()
    await upstreamFile(host).switchTo('new file', expectServer('127.0.0.1:3001'))
    expect(host.steps).toEqual(['install', 'verify'])
    expect(host.commands).toEqual([
      { step: 'install', text: script('all', 'take', 'new file'), stdin: undefined },
    ])
  })

  it('a failed nginx test: the script put the file from before back, no reload', async () => {
    const host = new FakeHost([], [TEST_FAILED])
    await expect(upstreamFile(host).switchTo('bad', expectServer('x'))).rejects.toThrow(
      '[app1] install: command exited 1:\ntest failed',
    )
    expect(host.steps).toEqual(['install'])
  })

  it('a failed reload names the reload step with its exit status', async () => {
    const host = new FakeHost(
      [],
      ['STEP install\nSTEP test\nSTEP reload\nFAILED reload 1\nRESTORED\nRELOADED\n'],
    )
    await expect(upstreamFile(host).switchTo('new', expectServer('x'))).rejects.toThrow(
      '[app1] reload: command exited 1:\nreload failed',
    )
    expect(host.steps).toEqual(['install'])
  })

  it('a failed reload the script could not undo: restore and reload from here, first error thrown', async () => {
    const host = new FakeHost(
      ['restore'],
      ['STEP install\nSTEP test\nSTEP reload\nFAILED reload 1\nRESTORE-FAILED\n'],
    )
    await expect(upstreamFile(host).switchTo('new', expectServer('x'))).rejects.toThrow(
      '[app1] reload: command exited 1',
    )
    expect(host.steps).toEqual(['install', 'restore', 'reload'])
    expect(host.commands[1]?.text).toBe(restoreUpstream(FILE, BACKUP, false).text)
    expect(host.commands[2]?.text).toBe(reloadNginx(NGINX).text)
  })

  it('a failed verify: restore and reload, and the verify error is the one thrown', async () => {
    const host = new FakeHost()
    host.upstream = '127.0.0.1:3002'
    const error = upstreamFile(host).switchTo('new', expectServer('127.0.0.1:3001'))
    await expect(error).rejects.toThrow(
      '[app1] switch: verify: after the reload, nginx did not send requests where expected within 0.2s (answered from 127.0.0.1:3002)',
    )
    const steps = host.steps.filter((s, i) => s !== 'verify' || host.steps[i - 1] !== 'verify')
    expect(steps).toEqual(['install', 'verify', 'restore', 'reload'])
  })

  it('verify needs `rounds` answers in a row', async () => {
    const host = new FakeHost()
    await upstreamFile(host).switchTo('new', expectServer('127.0.0.1:3001'), { rounds: 3 })
    expect(host.steps).toEqual(['install', 'verify', 'verify', 'verify'])
  })

  it('backups first: later installs keep the backup of the file from before the run', async () => {
    const host = new FakeHost()
    const file = upstreamFile(host, 'first')
    await file.install('one')
    await file.install('two', 'install again')
    expect(host.commands.map((c) => [c.step, c.text])).toEqual([
      ['install', script('install', 'take', 'one')],
      ['install again', script('install', 'keep', 'two')],
    ])
  })

  it('backups first: a first install that failed before the new file was written takes the backup again', async () => {
    const host = new FakeHost([], ['CLIENT none\nSTEP install\nFAILED install 1\n'])
    const file = upstreamFile(host, 'first')
    await expect(file.install('one')).rejects.toThrow('[app1] install: command exited 1')
    await file.install('two', 'install again')
    expect(host.commands[1]?.text).toBe(script('install', 'take', 'two'))
  })

  it('backups first: after a failed nginx test the backup taken stays the one from before the run', async () => {
    const host = new FakeHost([], [TEST_FAILED])
    const file = upstreamFile(host, 'first')
    await expect(file.install('one')).rejects.toThrow()
    await file.install('two', 'install again')
    expect(host.commands[1]?.text).toBe(script('install', 'keep', 'two'))
  })

  it('backups each: every install backs up the file it replaces', async () => {
    const host = new FakeHost()
    const file = upstreamFile(host, 'each')
    await file.install('one')
    await file.install('two')
    expect(host.commands.map((c) => c.text)).toEqual([
      script('install', 'take', 'one'),
      script('install', 'take', 'two'),
    ])
  })
})

describe('UpstreamFile: the ownership check', () => {
  const ours = renderUpstream({ name: 'shop', servers: [{ port: 3001 }], verifyPort: 3003 })
  const drifted = `${ours}# a hand edit\n`
  const foreign = 'upstream shop { server 127.0.0.1:3001; }\n'
  const check = (role: FileRole, content: string, force = false) =>
    upstreamFile(new FakeHost(), 'first', role).check(content, force)

  it('accepts an absent file, the placeholder and its own file', () => {
    expect(check('upstream', '')).toBe('absent')
    expect(check('upstream', upstreamPlaceholder('shop'))).toBe('placeholder')
    expect(check('upstream', ours)).toBe('ours')
    const site = renderSite({ name: 'shop', serverNames: ['shop.example'], listen: '80' })
    expect(check('site', site)).toBe('ours')
    // The placeholder is the app upstream's only.
    expect(() => check('lb upstream', upstreamPlaceholder('shop'))).toThrow('check lb upstream')
  })

  it('app upstream: drift and foreign refused, each in its words; force lets it pass', () => {
    const advice =
      'nothing was changed. Move your changes to your site config, then rerun with force: true to let the action overwrite it.'
    expect(() => check('upstream', drifted)).toThrow(
      `[app1] check upstream: ${FILE} was edited by hand since the last deploy (drift); ${advice}`,
    )
    expect(() => check('upstream', foreign)).toThrow(
      `[app1] check upstream: ${FILE} was not written by this action; ${advice}`,
    )
    expect(check('upstream', drifted, true)).toBe('drifted')
    expect(check('upstream', foreign, true)).toBe('foreign')
  })

  it('site: drift refused unless force; a foreign site even with force', () => {
    expect(() => check('site', drifted)).toThrow(
      `[app1] check site: ${FILE} was edited by hand since the last deploy (drift); nothing was changed. Move your changes to a site of your own (and drop nginx-site), or rerun with force: true to let the action overwrite it.`,
    )
    expect(check('site', drifted, true)).toBe('drifted')
    const foreignSite = `[app1] check site: ${FILE} was not written by this action; nothing was changed. The action never overwrites it: remove it if nginx-site should replace it, or set nginx-site-file to another path.`
    expect(() => check('site', foreign)).toThrow(foreignSite)
    expect(() => check('site', foreign, true)).toThrow(foreignSite)
  })

  it('load balancer: one message for drift and foreign; force lets it pass', () => {
    const message = `[app1] check lb upstream: ${FILE} was edited by hand or not written by this action; nothing was changed. Rerun with force: true to let the action own it.`
    expect(() => check('lb upstream', drifted)).toThrow(message)
    expect(() => check('lb upstream', foreign)).toThrow(message)
    expect(check('lb upstream', foreign, true)).toBe('foreign')
  })
})
