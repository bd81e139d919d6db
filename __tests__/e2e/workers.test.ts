/**
 * Background workers (`worker-command`) end to end, with the sample app's queue worker
 * (examples/app/worker.js: a job is a file in shared/queue/, taken by a rename, done into
 * shared/done.log; on SIGTERM it finishes the job in hand). A deploy under a steady stream of
 * jobs loses none and runs none twice; a worker that dies is started again; a rollback brings
 * back the workers of the release it returns to; a worker that cannot start fails the run and
 * the web host goes back; a worker host (no slots, no nginx running) runs the workers only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorLine, runAction } from '../../test/action-runner.js'
import {
  addSite,
  deployInputs,
  hostState,
  makeRelease,
  servedVersion,
} from '../../test/deploy-fixture.js'
import { startLab, type Lab, type LabHost } from '../../test/hosts/index.js'
import { waitFor } from '../../test/wait.js'

let lab: Lab
let web: LabHost
let jobs: LabHost

const WORKERS = 'jobs: node worker.js\nmail: node worker.js'

beforeAll(async () => {
  lab = await startLab({ hosts: 2, name: 'workers' })
  ;[web, jobs] = lab.hosts as [LabHost, LabHost]
})

afterAll(async () => {
  await lab?.stop()
})

const inputs = (
  hosts: LabHost[],
  version: string,
  extra: Record<string, string> = {},
  behaviour?: Record<string, unknown>,
) =>
  deployInputs(lab, hosts, makeRelease(version, behaviour), {
    version,
    'worker-command': WORKERS,
    'worker-stop-timeout': '10s',
    ...extra,
  })

/** Adds `count` jobs to a host's queue, one every `everyMs`, named `<prefix>-<n>`. */
async function produce(host: LabHost, prefix: string, count: number, everyMs = 25): Promise<void> {
  for (let n = 0; n < count; n++) {
    const name = `${prefix}-${String(n).padStart(4, '0')}`
    await host.sh(
      `mkdir -p /srv/shop/shared/queue && : > /srv/shop/shared/queue/.${name} && mv /srv/shop/shared/queue/.${name} /srv/shop/shared/queue/${name}`,
    )
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}

/** The done jobs of the host whose names start with `prefix`: `job -> [version...]`. */
async function done(host: LabHost, prefix: string): Promise<Map<string, string[]>> {
  const { stdout } = await host.sh('cat /srv/shop/shared/done.log 2>/dev/null || true')
  const byJob = new Map<string, string[]>()
  for (const line of stdout.split('\n')) {
    const [job = '', version = ''] = line.split(' ')
    if (!job.startsWith(`${prefix}-`)) continue
    byJob.set(job, [...(byJob.get(job) ?? []), version])
  }
  return byJob
}

/** Every job of `prefix` done exactly once; returns how many each version did. */
async function everyJobOnce(host: LabHost, prefix: string, count: number) {
  const byJob = await waitFor(
    async () => {
      const seen = await done(host, prefix)
      return seen.size === count ? seen : undefined
    },
    { what: `${count} jobs ${prefix}-* done on ${host.name}`, timeoutMs: 60_000 },
  )
  expect([...byJob.values()].filter((versions) => versions.length !== 1)).toEqual([])
  const byVersion: Record<string, number> = {}
  for (const [version] of byJob.values()) byVersion[version!] = (byVersion[version!] ?? 0) + 1
  const left = await host.sh('find /srv/shop/shared/queue /srv/shop/shared/working -type f | wc -l')
  expect(left.stdout.trim()).toBe('0')
  return byVersion
}

/** The workers' supervised processes on the host: `worker-<name>-<generation>` of each pidfile. */
async function runningWorkers(host: LabHost): Promise<string[]> {
  const { stdout } = await host.sh(`cd /srv/shop/.deploy && for f in worker-*.pid; do
  case $f in *.supervisor.pid) continue ;; esac
  [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && echo "\${f%.pid}"
done; true`)
  return stdout.split('\n').filter(Boolean).sort()
}

describe('workers beside the web slots', () => {
  it('a deploy under a stream of jobs loses none and runs none twice; the old workers finish their job', async () => {
    const v1 = await runAction(inputs([web], 'w1'))
    expect(errorLine(v1.main.log)).toBe('')
    await addSite(web, 'shop')
    expect(await runningWorkers(web)).toEqual(['worker-jobs-blue', 'worker-mail-blue'])
    expect(v1.main.log).toContain(`workers: jobs, mail up (w1)`)

    const stream = produce(web, 'a', 120)
    const v2 = await runAction(inputs([web], 'w2'))
    await stream
    expect(errorLine(v2.main.log)).toBe('')
    const byVersion = await everyJobOnce(web, 'a', 120)
    console.log(`jobs during the deploy, by version: ${JSON.stringify(byVersion)}`)
    expect(byVersion.w1).toBeGreaterThan(0)
    expect(byVersion.w2).toBeGreaterThan(0)
    expect(await runningWorkers(web)).toEqual(['worker-jobs-green', 'worker-mail-green'])
    expect(await hostState(web)).toMatchObject({
      workers: { generation: 'green', version: 'w2', names: ['jobs', 'mail'] },
    })
    // The old ones stopped on SIGTERM after their job in hand, not by SIGKILL.
    const log = await web.sh('cat /srv/shop/logs/worker-jobs-blue.log')
    expect(log.stdout).toContain('SIGTERM: finishing the job in hand')
    expect(log.stdout).toContain('] stopped')
    expect(log.stdout).not.toContain('SIGKILL')
    // The summary and the hosts output list them.
    expect(v2.main.summary).toContain('#### Workers')
    const hosts = JSON.parse(v2.main.outputs.hosts!) as { workers: unknown[] }[]
    expect(hosts[0]!.workers).toEqual([
      { name: 'jobs', version: 'w2', state: 'up' },
      { name: 'mail', version: 'w2', state: 'up' },
    ])
  })

  it('a worker that dies is started again by its supervisor', async () => {
    const before = Number((await web.sh('cat /srv/shop/.deploy/worker-jobs-green.pid')).stdout)
    await web.sh(`kill -KILL ${before}`)
    await waitFor(
      async () => {
        const pid = Number((await web.sh('cat /srv/shop/.deploy/worker-jobs-green.pid')).stdout)
        return pid !== before && (await runningWorkers(web)).includes('worker-jobs-green')
      },
      { what: 'the jobs worker to run again', timeoutMs: 10_000 },
    )
    await produce(web, 'b', 20, 0)
    const byVersion = await everyJobOnce(web, 'b', 20)
    expect(Object.keys(byVersion)).toEqual(['w2'])
  })

  it('a rollback brings back the workers of the release it returns to', async () => {
    const back = await runAction(
      deployInputs(lab, [web], '.', { 'release-path': '.', rollback: 'true' }),
    )
    expect(errorLine(back.main.log)).toBe('')
    expect(back.main.outputs).toMatchObject({ status: 'rolled-back', version: 'w1' })
    expect(await runningWorkers(web)).toEqual(['worker-jobs-blue', 'worker-mail-blue'])
    await produce(web, 'c', 20, 0)
    expect(Object.keys(await everyJobOnce(web, 'c', 20))).toEqual(['w1'])
  })

  it('a worker that cannot start fails the run: the web host goes back, the old workers keep working', async () => {
    const run = await runAction(inputs([web], 'w3', {}, { workerCrashAtBoot: true }))
    expect(run.main.outputs.status).toBe('failed')
    const error = errorLine(run.main.log)
    expect(error).toContain(`[${web.address}] workers: worker-jobs-green exited; last lines of`)
    expect(error).toContain('fatal: the worker cannot reach its queue')
    expect(error).toContain(
      '1 web host(s) switched back to their previous version (on-failure: rollback).',
    )
    expect(await servedVersion(web)).toBe('w1')
    expect(await runningWorkers(web)).toEqual(['worker-jobs-blue', 'worker-mail-blue'])
    await produce(web, 'd', 10, 0)
    expect(Object.keys(await everyJobOnce(web, 'd', 10))).toEqual(['w1'])
  })
})

describe('a worker host', () => {
  it('gets the release and runs its workers, with no slot and no nginx', async () => {
    // A job server: nothing of nginx runs there.
    await jobs.sh('nginx -s stop')
    try {
      // dry-run checks the worker host too, without nginx.
      const dry = await runAction(
        inputs([web], 'w4', { 'worker-hosts': jobs.sshTarget, 'dry-run': 'true' }),
      )
      expect(errorLine(dry.main.log)).toBe('')
      expect(dry.main.log).toContain(
        'worker host: would ship w4 and run its workers (jobs, mail); running now: none',
      )
      const run = await runAction(inputs([web], 'w4', { 'worker-hosts': jobs.sshTarget }))
      expect(errorLine(run.main.log)).toBe('')
      expect(await servedVersion(web)).toBe('w4')
      expect(await runningWorkers(jobs)).toEqual(['worker-jobs-blue', 'worker-mail-blue'])
      const state = (await hostState(jobs)) as Record<string, unknown>
      expect(state).toMatchObject({
        liveSlot: null,
        workers: { generation: 'blue', version: 'w4' },
        history: [{ version: 'w4' }],
      })
      const hosts = JSON.parse(run.main.outputs.hosts!) as { role?: string; outcome: string }[]
      expect(hosts[1]).toMatchObject({ role: 'worker', outcome: 'deployed' })
      await produce(jobs, 'e', 10, 0)
      expect(Object.keys(await everyJobOnce(jobs, 'e', 10))).toEqual(['w4'])
      const nginxFiles = await jobs.sh('ls /etc/nginx/conf.d/ | grep -c shop || true')
      expect(nginxFiles.stdout.trim()).toBe('0')

      // The next release moves its workers to the other generation.
      const next = await runAction(inputs([web], 'w5', { 'worker-hosts': jobs.sshTarget }))
      expect(errorLine(next.main.log)).toBe('')
      expect(await runningWorkers(jobs)).toEqual(['worker-jobs-green', 'worker-mail-green'])
    } finally {
      await jobs.sh('nginx')
    }
  })
})
