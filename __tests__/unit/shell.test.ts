import { describe, expect, it } from 'vitest'
import { and, cmd, quote, script, userCommand, userCommandArgv } from '../../src/remote/shell.js'

describe('quote', () => {
  it.each([
    ['plain', 'plain'],
    ['/srv/app/releases/1.2.3', '/srv/app/releases/1.2.3'],
    ['', "''"],
    ['two words', "'two words'"],
    ["it's", `'it'\\''s'`],
    ['$(id)', "'$(id)'"],
    ['`id`', "'`id`'"],
    ['a;b', "'a;b'"],
    ['"q"', `'"q"'`],
    ['line\nbreak', "'line\nbreak'"],
    ['glob*', "'glob*'"],
    ['ü', "'ü'"],
  ])('%j -> %s', (input, expected) => {
    expect(quote(input)).toBe(expected)
  })
})

describe('commands as data', () => {
  it('quotes every argument of cmd', () => {
    expect(cmd('mkdir', '-p', '/srv/my app').text).toBe("mkdir -p '/srv/my app'")
  })

  it('passes script data as positional parameters, never inside the script', () => {
    expect(script('echo "$1"', "x'; rm -rf /").text).toBe(`sh -c 'echo "$1"' sh 'x'\\''; rm -rf /'`)
  })

  it('runs user command lines through sh -c as one argument', () => {
    expect(userCommand('node server.js > out').text).toBe("sh -c 'node server.js > out'")
  })

  it('joins with and, in groups', () => {
    expect(and(cmd('true'), cmd('echo', 'x y')).text).toBe("{ true; } && { echo 'x y'; }")
  })

  it('runs user command lines through sudo -n only when asked', () => {
    expect(userCommand('nginx -t', false).text).toBe('nginx -t')
    expect(userCommand('nginx -t', true).text).toBe('sudo -n nginx -t')
    expect(userCommand('nginx -t; id', true).text).toBe("sudo -n sh -c 'nginx -t; id'")
  })

  it('runs a line of plain words as a fixed binary with fixed arguments, anything else with sh -c', () => {
    expect(userCommandArgv('nginx -s reload', true)).toEqual([
      'sudo',
      '-n',
      'nginx',
      '-s',
      'reload',
    ])
    expect(userCommandArgv(' /usr/sbin/nginx  -t\t-c /etc/nginx/nginx.conf ')).toEqual([
      '/usr/sbin/nginx',
      '-t',
      '-c',
      '/etc/nginx/nginx.conf',
    ])
    expect(userCommandArgv('systemctl reload nginx', true)).toEqual([
      ...['sudo', '-n', 'systemctl', 'reload', 'nginx'],
    ])
    // Quotes, variables, operators, globs, an assignment or an option first: a shell is needed.
    for (const line of [
      "nginx -g 'daemon off;'",
      'nginx -t && nginx -s reload',
      'nginx -p $HOME',
      'nginx -t > /dev/null',
      'nginx -c /etc/nginx/*.conf',
      'PATH=/opt/bin nginx -t',
      '-u www-data nginx -t',
    ]) {
      expect(userCommandArgv(line, true)).toEqual(['sudo', '-n', 'sh', '-c', line])
    }
  })

  it('refuses an empty argv', () => {
    expect(() => cmd()).toThrow('needs at least the program name')
  })
})
