/**
 * Switching nginx on a host, in two steps so that several hosts switch together or not at all:
 * `install` puts the new upstream file in place (old one kept as a backup) and tests the whole
 * config; `reload` makes nginx use it. `restore` puts the backup back. nginx reads its files only
 * on test and reload, so an installed but not yet reloaded file serves nothing.
 */
import { script, userCommand, userCommandArgv, type Shell } from '../shell.js'

export interface NginxCommands {
  test: string
  reload: string
  sudo: boolean
}

/**
 * stdin: the new file. $1 upstream file, $2 backup path, $3 `keep` to keep the backup taken
 * earlier in the run (so that a restore goes back to the file from before the run), else `take`.
 * Then runs the test command. The new file is first written next to the backup (the deploy path,
 * always writable); then renamed into place where the user may write nginx's directory, else
 * written over the file it owns (host setup).
 */
export function installUpstream(
  file: string,
  backup: string,
  nginx: NginxCommands,
  backupMode: 'take' | 'keep' = 'take',
): Shell {
  return script(
    `set -e
file=$1; backup=$2; mode=$3; shift 3
if [ "$mode" = take ]; then
  if [ -f "$file" ]; then cp -p "$file" "$backup"; else rm -f "$backup"; fi
fi
cat > "$backup.new"
chmod 644 "$backup.new"
if ! { cp "$backup.new" "$file.tmp.$$" 2>/dev/null && mv -f "$file.tmp.$$" "$file"; }; then
  rm -f "$file.tmp.$$" 2>/dev/null || true
  cat "$backup.new" > "$file"
fi
rm -f "$backup.new"
"$@"`,
    file,
    backup,
    backupMode,
    ...userCommandArgv(nginx.test, nginx.sudo),
  )
}

/** Puts the backup back (or removes the file when there was none before). */
export function restoreUpstream(file: string, backup: string): Shell {
  return script(`if [ -f "$2" ]; then cat "$2" > "$1"; else rm -f "$1"; fi`, file, backup)
}

export function reloadNginx(nginx: NginxCommands): Shell {
  return userCommand(nginx.reload, nginx.sudo)
}

export function testNginx(nginx: Pick<NginxCommands, 'test' | 'sudo'>): Shell {
  return userCommand(nginx.test, nginx.sudo)
}
