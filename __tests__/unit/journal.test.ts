import { describe, expect, it } from 'vitest'
import { HostDeploy } from '../../src/deploy/host-deploy.js'
import { HostSession } from '../../src/deploy/host-session.js'
import { stateLoaded } from '../../src/deploy/host-state.js'
import { Journal } from '../../src/deploy/journal.js'
import { layout } from '../../src/remote/layout.js'
import { reloadNginx, restoreUpstream } from '../../src/remote/commands/nginx.js'
import { repair } from '../../src/post/repair.js'
import { EMPTY_STATE } from '../../src/remote/state.js'
import type { RemoteHost } from '../../src/ssh/connection.js'
import { testSettings } from '../../test/settings.js'

/** A journal whose every save is recorded (the text core.saveState would get). */
function recordingJournal(): { journal: Journal; saves: string[] } {
  const saves: string[] = []
  return { journal: new Journal((text) => saves.push(text)), saves }
}

describe('Journal', () => {
  it('saves on every mark and clear, with what the post step has to repair', () => {
    const { journal, saves } = recordingJournal()
    const web1 = journal.of('web1')
    web1.mark({ kind: 'started slot', slot: 'green' })
    web1.mark({ kind: 'upstream' })
    web1.clear('upstream')
    web1.clear('started slot')
    expect(saves).toEqual([
      '{"web1":{"startedSlot":"green","upstreamTouched":false,"siteTouched":false}}',
      '{"web1":{"startedSlot":"green","upstreamTouched":true,"siteTouched":false}}',
      '{"web1":{"startedSlot":"green","upstreamTouched":false,"siteTouched":false}}',
      '',
    ])
  })

  it('saves the entries of every host together, and the post step reads them back', () => {
    const { journal, saves } = recordingJournal()
    journal.of('web1').mark({ kind: 'site' })
    journal.of('web2').mark({ kind: 'current moved', from: '1.0.0' })
    expect(Journal.parse(saves.at(-1)!)).toEqual({
      web1: { upstreamTouched: false, siteTouched: true },
      web2: { upstreamTouched: false, siteTouched: false, currentMovedFrom: '1.0.0' },
    })
    expect(journal.of('web1')).toBe(journal.of('web1'))
  })

  it('has nothing to repair while the switch is recorded, and everything again once reverted', () => {
    const { journal, saves } = recordingJournal()
    const web1 = journal.of('web1')
    web1.mark({ kind: 'started slot', slot: 'blue' })
    web1.mark({ kind: 'upstream' })
    web1.mark({ kind: 'recorded' })
    expect(saves.at(-1)).toBe('')
    expect(web1.has('upstream')).toBe(true)
    web1.clear('recorded')
    expect(Journal.parse(saves.at(-1)!)).toEqual({
      web1: { startedSlot: 'blue', upstreamTouched: true, siteTouched: false },
    })
  })

  it('reads an empty saved journal as nothing to repair', () => {
    expect(Journal.parse('')).toEqual({})
    expect(new Journal().text()).toBe('')
  })
})

const settings = testSettings({
  hosts: 'web1.example.com',
  'known-hosts': 'web1.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample',
  'nginx-upstream-file': '/etc/nginx/conf.d/shop-upstream.conf',
  'nginx-site': 'shop.example.com',
  'nginx-reload-command': 'nginx -s reload',
})

/** A host that records the commands it is given (and runs nothing). */
function recordingHost(): { host: RemoteHost; ran: { step: string; command: string }[] } {
  const ran: { step: string; command: string }[] = []
  const exec = (command: string, options: { step: string }) => {
    ran.push({ step: options.step, command })
    return Promise.resolve({ exitCode: 0, stdout: '', stderr: '' })
  }
  const host = { name: 'web1', address: { user: 'deploy' }, exec, tryExec: exec }
  return { host: host as unknown as RemoteHost, ran }
}

/** A HostDeploy on `host` as if state.json had nothing live (nothing read from the host). */
function deployOn(host: RemoteHost, journal = new Journal()): HostDeploy {
  const session = new HostSession(host, settings, journal, '')
  return new HostDeploy(session, stateLoaded(session, EMPTY_STATE, 'builtin'))
}

describe('restore anyway (the post step)', () => {
  const upstream = restoreUpstream(
    '/etc/nginx/conf.d/shop-upstream.conf',
    layout('/srv/shop').upstreamBackup,
  )

  it('restoreUpstream does nothing for a run that did not touch the upstream file', async () => {
    const { host, ran } = recordingHost()
    const deploy = deployOn(host)
    await deploy.restoreUpstream(true)
    expect(ran).toEqual([])
  })

  it('restore anyway puts the backup back and reloads nginx without a mark', async () => {
    const { host, ran } = recordingHost()
    const { journal, saves } = recordingJournal()
    const deploy = deployOn(host, journal)
    await deploy.nginx.restoreAnyway(true)
    expect(ran).toEqual([
      { step: 'switch: restore upstream', command: upstream },
      {
        step: 'switch: reload nginx',
        command: reloadNginx({ test: '', reload: 'nginx -s reload', sudo: false }),
      },
    ])
    expect(saves).toEqual([''])
  })

  it('repair restores the site, then the upstream file, on a host with nothing live', async () => {
    const { host, ran } = recordingHost()
    const deploy = deployOn(host)
    const done = await repair(deploy, { siteTouched: true, upstreamTouched: true })
    expect(done).toEqual([
      'restored the site file from before the run',
      'restored the upstream file from before the run',
    ])
    expect(ran.map((r) => r.step)).toEqual([
      'switch: restore site',
      'switch: restore upstream',
      'switch: reload nginx',
    ])
    expect(ran[1]!.command).toEqual(upstream)
  })
})
