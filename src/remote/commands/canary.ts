/**
 * Reading the evidence log of a canary or a watch
 * (`log_format <app>_canary '$msec|$status|$upstream_addr|$upstream_response_time'`).
 */
import { script, type Shell } from '../shell.js'

/** How many 5xx answers per upstream server a read reports (FIRST_FAILURES of a window). */
const FAILURES_PER_READ = 5

/**
 * $1 log file, $2 byte offset ('': only the size). Prints `missing` when the log cannot be read;
 * else `size <bytes>`, then, for the lines between the offset and that size (a rotated log,
 * smaller than the offset, is read from its start), per upstream server: `count <upstream>
 * <requests> <5xx>`; `lat <upstream> <ms> <answers>` per response time, in ms rounded up to 2
 * significant digits (lines of the older 3-field format have none); `fail <upstream> <msec>
 * <status>` for its first 5xx answers. A request nginx retried on another server counts for the
 * last one, which gave the answer.
 */
export function accessLogSince(file: string, offset: number | undefined): Shell {
  return script(
    `f=$1; off=$2
[ -r "$f" ] || { echo missing; exit 0; }
size=$(wc -c < "$f" | tr -d ' ')
echo "size $size"
[ -z "$off" ] && exit 0
[ "$size" -lt "$off" ] && off=0
tail -c +$((off + 1)) "$f" | head -c $((size - off)) | awk -F'|' -v keep=${FAILURES_PER_READ} '
function last(list, parts) { return parts[split(list, parts, /, | : /)] }
function bucket(ms, b, s) {
  if (ms < 100) { b = int(ms); return b < ms ? b + 1 : b }
  s = 10 ^ (length(int(ms)) - 2); b = int(ms / s)
  return (b * s < ms ? b + 1 : b) * s
}
NF >= 3 {
  u = last($3); c[u]++
  if ($2 >= 500) { e[u]++; if (f[u]++ < keep) print "fail", u, $1, $2 }
  if (NF >= 4) { t = last($4); if (t ~ /^[0-9.]+$/) l[u, bucket(t * 1000)]++ }
}
END {
  for (u in c) print "count", u, c[u], e[u] + 0
  for (k in l) { split(k, p, SUBSEP); print "lat", p[1], p[2], l[k] }
}'`,
    file,
    offset === undefined ? '' : String(offset),
  )
}

/**
 * Dry run: what evidence a host would give a canary or a watch. $1 log file, $2 app name, $3 the slot ports
 * (space-separated), $4 the nginx config dir. Prints `log nodir|unreadable|absent|readable`, for
 * a readable log `recent <n>` (requests to the slots in its last 64 KiB), then `site <kind> <file>`
 * for every config file that proxies to http://<app>: `canary` (has the canary access_log line),
 * `own` (an access_log of its own, so it does not inherit the include's), else `inherits`.
 */
export function canaryEvidenceProbe(
  file: string,
  app: string,
  ports: number[],
  configDir: string,
): Shell {
  return script(
    `f=$1; app=$2; ports=$3; dir=$4; format="$app"_canary
if [ -r "$f" ]; then
  echo log readable
  n=$(tail -c 65536 "$f" | awk -F'|' -v ports=" $ports " 'NF >= 3 {
    k = split($3, a, ", "); m = split(a[k], b, ":"); if (index(ports, " " b[m] " ")) n++
  } END { print n + 0 }')
  echo "recent $n"
elif [ -e "$f" ]; then echo log unreadable
elif [ -d "$(dirname "$f")" ]; then echo log absent
else echo log nodir
fi
grep -RlE "proxy_pass[[:space:]]+https?://$app([;/[:space:]]|$)" "$dir" 2>/dev/null | while IFS= read -r site; do
  if grep -qE "^[^#]*access_log[[:space:]][^;]*[[:space:]]\${format}[[:space:];]" "$site"; then echo "site canary $site"
  elif grep -qE '^[[:space:]]*access_log[[:space:]]' "$site"; then echo "site own $site"
  else echo "site inherits $site"
  fi
done
exit 0`,
    file,
    app,
    ports.join(' '),
    configDir,
  )
}
