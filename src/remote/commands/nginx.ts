/**
 * nginx on a host besides the switch itself (src/remote/commands/switch.ts, which installs,
 * tests, reloads and verifies): `restore` puts the backup of a file back, `reload` makes nginx
 * use what is in place. nginx reads its files only on test and reload, so an installed but not
 * yet reloaded file serves nothing.
 */
import { script, userCommand, type Shell } from '../shell.js'

export interface NginxCommands {
  test: string
  reload: string
  sudo: boolean
}

/**
 * Writes stdin over $file, as this user where it may write the file (root, or the user owns the
 * file: README "Host setup"), else through `sudo -n tee $file` when $sudo is `sudo` (the tighter
 * setup where the user owns nothing under /etc/nginx: sudoers allows exactly that command). tee
 * reads the content as this user from stdin, so sudo never opens a path the user controls.
 */
export const PUT_FILE = `put() {
  if [ "$sudo" = sudo ] && ! [ -w "$file" ]; then sudo -n tee "$file" > /dev/null; else cat > "$file"; fi
}`

/**
 * Puts the backup back; when there was none (no file before the run), removes the file, or
 * empties it where only sudo may write it (an empty include is valid and counts as absent).
 */
export function restoreUpstream(file: string, backup: string, sudo = false): Shell {
  return script(
    `set -e
file=$1; backup=$2; sudo=$3
${PUT_FILE}
if [ -f "$backup" ]; then put < "$backup"
elif [ -e "$file" ] && ! rm -f "$file" 2>/dev/null; then put < /dev/null
fi`,
    file,
    backup,
    sudoFlag(sudo),
  )
}

const sudoFlag = (sudo: boolean): string => (sudo ? 'sudo' : 'no-sudo')

export function reloadNginx(nginx: NginxCommands): Shell {
  return userCommand(nginx.reload, nginx.sudo)
}

export function testNginx(nginx: Pick<NginxCommands, 'test' | 'sudo'>): Shell {
  return userCommand(nginx.test, nginx.sudo)
}

/**
 * For dry-run: exits 0 when this user may write the upstream file (or create it), else, with
 * `sudo`, when sudo would run `tee <file>` without a password (`sudo -n -l` lists it; its answer
 * on stderr when not), else 1 with the reason on stderr.
 */
export function checkUpstreamWritable(file: string, sudo: boolean): Shell {
  return script(
    `file=$1; sudo=$2
if [ -e "$file" ]; then [ -w "$file" ] && exit 0; else [ -w "$(dirname "$file")" ] && exit 0; fi
[ "$sudo" = sudo ] && exec sudo -n -l tee "$file" > /dev/null
echo "$(id -un) may not write $file" >&2
exit 1`,
    file,
    sudoFlag(sudo),
  )
}
