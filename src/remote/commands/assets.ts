/**
 * Fingerprinted assets across versions (`asset-path`): a page of one version asks for its bundle
 * (`/assets/app-<hash>.js`) and must find it on whichever slot the request lands, so each release
 * that takes traffic gets, as hard links, the files of the other releases the run keeps.
 *
 * On the host, per release, in `.deploy/assets/` (never in a release, whose own files do not
 * change): `<version>.own` lists the release's own files in its asset folders (a `# <folder>` line
 * per folder listed, then one path a line, relative to the release), made before any file is
 * linked into it; `<version>.linked` lists what was linked into
 * it (one path a line). Names that start with `.` (at any depth below a folder) are never listed,
 * so never linked: two manifests in one folder (`.sprockets-manifest-*.json`) make Sprockets pick
 * either. Names with a newline or a backslash are left out too (cksum, which compares the contents
 * of a name that several releases have, would escape them).
 *
 * Hard links within the deploy path: no byte is copied. A linked name goes again when no kept
 * release lists it as its own (pruneAssetLinks, in the finish block), or when a failed run takes
 * back what it linked into the live release (unlinkAssets).
 */
import type { Layout } from '../layout.js'
import { script, type Shell } from '../shell.js'

/**
 * `drop_links REL FILE` (`$lists` and `$releases` set by the caller): removes the paths of FILE
 * (links, every one) from release REL, the directories that leaves empty below its asset folders,
 * and the paths from REL's linked list.
 */
const DROP_LINKS = `drop_links() {
  [ -s "$2" ] || return 0
  (cd "$releases/$1" && tr '\\n' '\\0' < "$2" | xargs -0 rm -f --) || return 1
  # The parents of what went, deepest first, down to (not including) the folder they are in;
  # best effort: a directory that still holds something stays.
  own="$lists/$1.own" awk '
    BEGIN { own = ENVIRON["own"]; while ((getline line < own) > 0) if (line ~ /^# /) folders[substr(line, 3)] = 1 }
    { for (f in folders) if (index($0, f "/") == 1) { d = $0; while (sub(/\\/[^\\/]*$/, "", d) && length(d) > length(f)) print d } }
  ' "$2" | sort -ru | (cd "$releases/$1" && tr '\\n' '\\0' | xargs -0 -r rmdir --ignore-fail-on-non-empty -- 2> /dev/null)
  grep -vxF -f "$2" "$lists/$1.linked" > "$lists/$1.linked.tmp"
  mv -f "$lists/$1.linked.tmp" "$lists/$1.linked"
}`

/** The step that links asset files, in errors (in the ship, the switch or on its own). */
export const ASSETS_STEP = 'link assets'

/** bridgeAssets' last line, once all of it is done. */
export const BRIDGED = 'BRIDGED'

export interface BridgeSpec {
  layout: Layout
  /** The release about to take traffic: a deploy's new release, a rollback's target. */
  target: string
  /** The live release, which gets the target's own files ('' when nothing is live). */
  live: string
  /**
   * The other releases the run keeps (the live one, the history that keep-releases keeps; never
   * a never-live leftover), newest first: the target gets their own files, the newest one's
   * where two have a name.
   */
  sources: string[]
  /** `asset-path`: folders relative to a release's root. */
  folders: string[]
}

/**
 * Lists each release's own files where its list does not cover the folders yet (the target's
 * at its install; a release deployed before asset-path was set, at its first bridge), then links
 * into the target what the sources list as their own and it lacks, newest source first, never
 * over one of its names (nor below a name that is not a directory); then into the live release
 * the target's own files it lacks. Counts the names with different content in two kept releases
 * (the target and the sources), but not those every one of them has (phx.digest leaves an
 * undigested `app.js` in each).
 *
 * Output: `FILES <n>` (the target's own files), `CLASH <names> <first name>` when there are
 * such names, `LINKED <into> <from> <n>` for each pair that linked files, then `BRIDGED`.
 */
export function bridgeAssets(spec: BridgeSpec): Shell {
  const l = spec.layout
  return script(
    `# Nothing here reads stdin: in the ship command, shared/.env follows on it.
exec < /dev/null
set -f
lists=$1; releases=$2; target=$3; live=$4; folders=$5
shift 5
# awk reads them through ENVIRON, which takes values as they are (-v would read escapes in them).
export lists folders
nl='
'
IFS=$nl
tmp=$(mktemp -d) || exit 1
export tmp
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$lists" || exit 1
# own_list V: V's own files in each folder its list does not cover yet (what was linked into V
# left out).
own_list() {
  [ -d "$releases/$1" ] || return 0
  _linked=$lists/$1.linked
  [ -f "$_linked" ] || _linked=/dev/null
  for _f in $folders; do
    if grep -qxF "# $_f" "$lists/$1.own" 2>/dev/null; then continue; fi
    {
      printf '# %s\\n' "$_f"
      [ ! -d "$releases/$1/$_f" ] ||
        (cd "$releases/$1" && find "$_f" -mindepth 1 -name '.*' -prune -o -type f ! -name "*$nl*" ! -name '*\\\\*' -print |
          { grep -vxF -f "$_linked" || [ $? -eq 1 ]; })
    } >> "$lists/$1.own" || return 1
  done
}
# The awk part shared by clashes and link_into: ARGV from the second on are versions, made the
# paths of their own lists (unreadable ones dropped); inside(path): in one of the folders.
LISTS='
  BEGIN {
    lists = ENVIRON["lists"]; nf = split(ENVIRON["folders"], fs, "\\n")
    for (i = 2; i < ARGC; i++) {
      version[i] = ARGV[i]; file = lists "/" ARGV[i] ".own"; ARGV[i] = ""
      if ((getline line < file) > 0) { close(file); ARGV[i] = file; index_of[file] = i; kept++ }
    }
  }
  function inside(path,   k) { for (k = 1; k <= nf; k++) if (fs[k] != "" && index(path, fs[k] "/") == 1) return 1; return 0 }
'
# clashes V...: names with more than one content among the own files of V..., but not those all
# of them have. Only the names that more than one has are read (cksum), as <version>/<path>.
clashes() {
  awk "$LISTS"'
    /^#/ || !inside($0) { next }
    !(($0, FILENAME) in seen) { seen[$0, FILENAME] = 1; have[$0]++; where[$0] = where[$0] "\\n" version[index_of[FILENAME]] "/" $0 }
    END { for (p in have) if (have[p] > 1 && have[p] < kept) print substr(where[p], 2) }
  ' /dev/null "$@" > "$tmp/shared" || return 1
  [ -s "$tmp/shared" ] || return 0
  (cd "$releases" && tr '\\n' '\\0' < "$tmp/shared" | xargs -0 cksum) | awk '
    { path = $0; sub(/^[^ ]* [^ ]* [^\\/]*\\//, "", path)
      if (!((path, $1 " " $2) in sums)) { sums[path, $1 " " $2] = 1; contents[path]++ } }
    END { for (p in contents) if (contents[p] > 1) { n++; if (first == "" || p < first) first = p }
          if (n) print "CLASH " n " " first }'
}
# link_into T S...: into T, the own files of S... (newest first) that T lacks.
link_into() {
  _t=$1
  [ -d "$releases/$_t" ] || return 0
  _w=$tmp/into.$_t
  mkdir "$_w" && : > "$_w/present" || return 1
  for _f in $folders; do
    [ ! -d "$releases/$_t/$_f" ] || (cd "$releases/$_t" && find "$_f" -printf '%y %p\\n') >> "$_w/present" || return 1
  done
  out=$_w awk "$LISTS"'
    FILENAME == ARGV[1] { kind[substr($0, 3)] = substr($0, 1, 1); next }
    /^#/ { next }
    { path = $0
      if (!inside(path) || (path in kind)) next
      d = path; while (sub(/\\/[^\\/]*$/, "", d)) if ((d in kind) && kind[d] != "d") next
      d = path; while (sub(/\\/[^\\/]*$/, "", d)) if (!(d in kind)) kind[d] = "d"
      kind[path] = "f"; s = version[index_of[FILENAME]]
      print path > (ENVIRON["out"] "/link." s); count[s]++ }
    END { for (i = 2; i < ARGC; i++) if (count[version[i]]) print version[i], count[version[i]] }
  ' "$_w/present" "$@" > "$_w/counts" || return 1
  while IFS=' ' read -r _s _n; do
    # Listed first: a link the list does not name would never be pruned.
    cat "$_w/link.$_s" >> "$lists/$_t.linked" || return 1
    (cd "$releases/$_s" && tr '\\n' '\\0' < "$_w/link.$_s" | xargs -0 cp -l --parents -t "$releases/$_t" --) || return 1
    echo "LINKED $_t $_s $_n"
  done < "$_w/counts"
}
for v in "$target" "$live" "$@"; do [ -z "$v" ] || own_list "$v" || exit 1; done
echo "FILES $(grep -vc '^#' "$lists/$target.own")"
clashes "$target" "$@" || exit 1
# The two directions are independent (each reads only own lists): in parallel, most of the time
# is link(2) calls.
link_into "$target" "$@" > "$tmp/into-target" &
into_target=$!
failed=0
if [ -n "$live" ] && [ "$live" != "$target" ]; then link_into "$live" "$target" > "$tmp/into-live" || failed=1; fi
wait "$into_target" || failed=1
cat "$tmp/into-target" "$tmp/into-live" 2> /dev/null
[ "$failed" -eq 0 ] || exit 1
echo ${BRIDGED}`,
    l.assets,
    l.releases,
    spec.target,
    spec.live,
    spec.folders.join('\n'),
    ...spec.sources,
  )
}

/**
 * After a run that failed before any nginx reload sent the target traffic: takes back from the
 * live release what bridgeAssets linked into it from the target (the names of the target's own
 * list that are still the target's file, the same inode; a name another release gave stays).
 * Output: `UNLINKED <n>`.
 */
export function unlinkAssets(l: Layout, live: string, target: string): Shell {
  return script(
    `lists=$1; releases=$2; live=$3; target=$4
if [ ! -f "$lists/$live.linked" ] || [ ! -f "$lists/$target.own" ]; then echo "UNLINKED 0"; exit 0; fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
${DROP_LINKS}
awk 'FILENAME == ARGV[1] { if ($0 !~ /^#/) own[$0] = 1; next } ($0 in own)' \\
  "$lists/$target.own" "$lists/$live.linked" |
  while IFS= read -r p; do
    # shellcheck disable=SC3013 # dash, busybox sh and bash all have -ef (same device and inode)
    if [ "$releases/$live/$p" -ef "$releases/$target/$p" ]; then printf '%s\\n' "$p"; fi
  done > "$tmp/gone"
drop_links "$live" "$tmp/gone" || exit 1
echo "UNLINKED $(wc -l < "$tmp/gone")"`,
    l.assets,
    l.releases,
    live,
    target,
  )
}

/**
 * The finish block's part, once the pruned releases are gone: the lists of releases that are not
 * `kept` go, and from each kept release, the linked names that no kept release lists as its own
 * (their release was pruned). Nothing when no release was ever bridged. Output: `UNLINKED <n>`
 * when it removed links.
 */
export function pruneAssetLinks(l: Layout, kept: string[]): Shell {
  return script(
    `lists=$1; releases=$2
shift 2
[ -d "$lists" ] || exit 0
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
${DROP_LINKS}
for file in "$lists"/*; do
  [ -e "$file" ] || continue
  name=\${file##*/}
  keep=no
  for v do case $name in "$v.own" | "$v.linked") keep=yes ;; esac; done
  [ "$keep" = yes ] || rm -f "$file" || exit 1
done
for v do [ ! -f "$lists/$v.own" ] || grep -v '^#' "$lists/$v.own"; done > "$tmp/own"
gone=0
for v do
  [ -s "$lists/$v.linked" ] || continue
  grep -vxF -f "$tmp/own" "$lists/$v.linked" > "$tmp/gone"
  drop_links "$v" "$tmp/gone" || exit 1
  gone=$((gone + $(wc -l < "$tmp/gone")))
done
[ "$gone" -eq 0 ] || echo "UNLINKED $gone"`,
    l.assets,
    l.releases,
    ...kept,
  )
}

export interface BridgeResult {
  /** The target's own files in its asset folders. */
  files: number
  /** What was linked where, in the order it was. */
  linked: { into: string; from: string; files: number }[]
  /** Names with more than one content among the kept releases (absent: none). */
  clashes?: { names: number; first: string }
  /** The script got to its end. */
  done: boolean
}

export function parseBridge(stdout: string): BridgeResult {
  const lines = stdout.split('\n')
  const files = lines.find((line) => line.startsWith('FILES '))
  const clash = lines.find((line) => line.startsWith('CLASH '))?.split(' ')
  return {
    files: Number(files?.slice(6) ?? 0),
    linked: lines
      .filter((line) => line.startsWith('LINKED '))
      .map((line) => {
        const [, into = '', from = '', count = '0'] = line.split(' ')
        return { into, from, files: Number(count) }
      }),
    ...(clash ? { clashes: { names: Number(clash[1]), first: clash.slice(2).join(' ') } } : {}),
    done: lines.includes(BRIDGED),
  }
}

/** The links an `UNLINKED <n>` line says were removed (0 when none). */
export function unlinkedCount(stdout: string): number {
  const line = stdout.split('\n').find((l) => l.startsWith('UNLINKED '))
  return line === undefined ? 0 : Number(line.slice(9))
}
