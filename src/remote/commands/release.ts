/** Releases on the host: install (extract to temp, then rename), prune. */
import type { Layout } from '../layout.js'
import { script, type Shell } from '../shell.js'

export const CHECKSUM_FILE = '.release-sha256'

/**
 * The version of a release, in a file at its root written at install (beside the checksum, so
 * the archive and its sha256 stay as built): what a server reloaded in place (which keeps the
 * environment it started with, `$APP_VERSION` included) reads to tell which release it runs.
 */
export const REVISION_FILE = 'REVISION'

/** installRelease's output line when the release brought its own REVISION file (kept as it is). */
export const REVISION_KEPT = 'REVISION-KEPT'

/** What the prepare block prints for a release directory without a checksum (not installed by us). */
export const UNKNOWN_CHECKSUM = 'unknown'

/**
 * Extracts an uploaded archive into a temp dir next to the releases, records its checksum and
 * writes REVISION_FILE (unless the release has one: it is kept, and REVISION_KEPT printed), then
 * renames it into place, so `releases/<version>` is either complete or absent (a full disk or a
 * dropped connection leaves no half release behind). The temp dir is a dot file: no version
 * starts with a dot, so the prepare block (prepare.ts) can remove one that an interrupted run left.
 *
 * `replacing`: the checksum of a release of this version that never went live (the caller
 * decided so from state.json), which this one replaces. The host checks that the release there
 * still has that checksum and that no process runs from it (one the run could not stop, say;
 * processes in other mount namespaces see other files and are left out),
 * moves it aside, moves the new one in (the old one back if that fails), then removes it.
 * Empty: the release must not exist yet. Once it is in place, the lists of asset files of an
 * earlier release of this version go (assets.ts: the new release's are made from its files).
 */
export function installRelease(
  l: Layout,
  version: string,
  archive: string,
  sha256: string,
  replacing = '',
): Shell {
  return script(
    `set -e
target=$1; archive=$2; sum=$3; sums=$4; replacing=$5; version=$6; revision=$7; lists=$8
tmp="\${target%/*}/.\${target##*/}.tmp.$$"
old="\${target%/*}/.\${target##*/}.old.tmp.$$"
trap 'rm -rf "$tmp" "$old"; rm -f "$archive"' EXIT
mkdir "$tmp"
tar -xzf "$archive" -C "$tmp"
printf '%s\\n' "$sum" > "$tmp/$sums"
if [ -e "$tmp/$revision" ] || [ -L "$tmp/$revision" ]; then echo ${REVISION_KEPT}
else printf '%s\\n' "$version" > "$tmp/$revision"; fi
if [ -n "$replacing" ]; then
  found=$(cat "$target/$sums" 2>/dev/null || echo unknown)
  if [ "$found" != "$replacing" ]; then
    echo "$target has checksum $found, expected $replacing; it was not replaced" >&2
    exit 3
  fi
  ns=$(readlink /proc/$$/ns/mnt 2>/dev/null || :)
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/ns/mnt" 2>/dev/null || :)" = "$ns" ] || continue
    case $(readlink "$p/cwd" 2>/dev/null || :) in "$target" | "$target"/*)
      echo "process \${p#/proc/} runs from $target; it was not replaced" >&2
      exit 3
    esac
  done
  mv -T "$target" "$old"
  mv -T "$tmp" "$target" || { mv -T "$old" "$target"; exit 1; }
else
  mv -T "$tmp" "$target"
fi
rm -f "$lists/$version.own" "$lists/$version.linked"`,
    l.release(version),
    archive,
    sha256,
    CHECKSUM_FILE,
    replacing,
    version,
    REVISION_FILE,
    l.assets,
  )
}
