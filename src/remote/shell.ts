/**
 * Remote commands as data. Every remote command the action runs is a `Shell` value built here:
 * argv arrays are quoted in exactly one place (`quote`), and the combinators only join values that
 * were already built, so raw input can never be pasted into a command string by accident.
 */

/** Only this module creates Shell values: the constructor is private, this is not exported. */
let makeShell: (text: string) => Shell

/** A POSIX sh command line, safe to send as-is. Build it with `cmd`, `script` and the combinators. */
export class Shell {
  private constructor(readonly text: string) {}

  static {
    makeShell = (text) => new Shell(text)
  }

  toString(): string {
    return this.text
  }
}

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/

/** Quote one argument for POSIX sh: single quotes, with embedded quotes as '\''. */
export function quote(arg: string): string {
  if (SAFE_WORD.test(arg)) return arg
  return `'${arg.replaceAll("'", `'\\''`)}'`
}

/** A simple command from an argv array; each argument is quoted. */
export function cmd(...argv: string[]): Shell {
  if (argv.length === 0) throw new Error('cmd() needs at least the program name')
  return makeShell(argv.map(quote).join(' '))
}

/**
 * A shell script written in this code base (a literal), run by `sh -c` with its data passed as
 * positional parameters ($1, $2, ...), never spliced into the script text.
 */
export function script(body: string, ...args: string[]): Shell {
  return cmd('sh', '-c', body, 'sh', ...args)
}

/**
 * argv for a command line that came from the user (e.g. `nginx-test-command`). A line of plain
 * words (letters, digits and `_@%+=:,./-`; the first not an option or assignment) runs as those
 * words, so that with `sudo` it is a fixed binary with fixed arguments a sudoers line can name
 * exactly: `sudo -n nginx -t`. Anything else (quotes, `$`, `;`, `|`, redirections, globs) needs a
 * shell: `sh -c '<line>'`, through `sudo -n` (fails instead of prompting) when `sudo` is set.
 */
export function userCommandArgv(commandLine: string, sudo = false): string[] {
  const argv = plainWords(commandLine) ?? ['sh', '-c', commandLine]
  return sudo ? ['sudo', '-n', ...argv] : argv
}

/** The words of a command line that needs no shell, else undefined. */
export function plainWords(commandLine: string): string[] | undefined {
  const words = commandLine.trim().split(/[ \t]+/)
  const [first = ''] = words
  if (first === '' || first.startsWith('-') || first.includes('=')) return undefined
  return words.every((word) => SAFE_WORD.test(word)) ? words : undefined
}

/** A command line that came from the user, as a command (see userCommandArgv). */
export function userCommand(commandLine: string, sudo = false): Shell {
  return cmd(...userCommandArgv(commandLine, sudo))
}

const group = (c: Shell): string => `{ ${c.text}; }`

/** `a && b && ...`: stops at the first failure. */
export function and(...commands: Shell[]): Shell {
  return makeShell(commands.map(group).join(' && '))
}
