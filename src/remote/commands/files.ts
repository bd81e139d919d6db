/** Small files the action owns on the host, each replaced atomically (temp file + rename). */
import type { Layout } from '../layout.js'
import { quote, script, type Shell } from '../shell.js'

/** Writes stdin to `path` atomically, keeping the previous content as `path.bak`. */
export function writeFileAtomically(path: string, mode = '644'): Shell {
  return script(
    `set -e
umask 077
cat > "$1.tmp.$$"
chmod "$2" "$1.tmp.$$"
if [ -f "$1" ]; then cp -p "$1" "$1.bak"; fi
mv -f "$1.tmp.$$" "$1"`,
    path,
    mode,
  )
}

/** Reads a file, printing nothing when it does not exist. */
export function readFileIfPresent(path: string): Shell {
  return script('[ ! -f "$1" ] || cat "$1"', path)
}

/** Points `current` at a release: a new symlink renamed over the old one (atomic). */
export function switchCurrent(l: Layout, version: string): Shell {
  return script('ln -sfn "$2" "$1.tmp" && mv -T "$1.tmp" "$1"', l.current, `releases/${version}`)
}

/**
 * shared/.env content: one `KEY='value'` line per variable, quoted so that sourcing it from sh
 * (as slots are started) sets the value literally; dotenv libraries read the same lines.
 */
export function renderEnvFile(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([key, value]) => `${key}=${quote(value)}\n`)
    .join('')
}

export const ENV_FILE_MODE = '600'

export function writeEnvFile(l: Layout): Shell {
  return writeFileAtomically(l.sharedEnv, ENV_FILE_MODE)
}
