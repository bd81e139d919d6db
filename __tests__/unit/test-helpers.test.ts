import * as core from '@actions/core'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { decodeCommandValue } from '../../test/action-runner.js'
import { waitFor } from '../../test/wait.js'

afterEach(() => vi.restoreAllMocks())

describe('decodeCommandValue', () => {
  it("undoes @actions/core's encoding of messages and property values", () => {
    const lines: string[] = []
    vi.spyOn(process.stdout, 'write').mockImplementation(
      (chunk) => (lines.push(String(chunk)), true),
    )
    const message = '[10.0.0.1] switch: 100% failed:\r\nline 2, a:b %0A stays'
    const title = 'a:b, c%d'
    core.error(message, { title })
    const line = lines.join('').trim()
    expect(line).toMatch(/^::error title=[^:,]*::[^\r\n]*$/)
    const [, encodedTitle, encodedMessage] = /^::error title=(.*?)::(.*)$/.exec(line)!
    expect(decodeCommandValue(encodedTitle!)).toBe(title)
    expect(decodeCommandValue(encodedMessage!)).toBe(message)
  })
})

describe('waitFor', () => {
  it('returns the first truthy value; a check that throws counts as not yet', async () => {
    let n = 0
    const value = await waitFor(
      () => {
        n += 1
        if (n === 1) throw new Error('not up')
        return n >= 3 && `after ${n}`
      },
      { what: 'the third check', intervalMs: 1 },
    )
    expect(value).toBe('after 3')
  })

  it('says what it waited for, how long, and what it saw last', async () => {
    await expect(waitFor(() => 0, { what: 'the lock to be held', timeoutMs: 30 })).rejects.toThrow(
      'timed out after 30 ms waiting for the lock to be held (last seen: 0)',
    )
    await expect(
      waitFor(
        () => {
          throw new Error('connection refused')
        },
        { what: 'the app', timeoutMs: 30 },
      ),
    ).rejects.toThrow('timed out after 30 ms waiting for the app (last error: connection refused)')
  })
})
