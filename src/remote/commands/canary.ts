/** Reading the canary access log (`log_format <app>_canary '$msec|$status|$upstream_addr'`). */
import { script, type Shell } from '../shell.js'

/**
 * $1 log file, $2 byte offset ('': only the size). Prints `missing` when the log cannot be read;
 * else `size <bytes>`, then `<upstream> <requests> <5xx>` per upstream server for the lines between
 * the offset and that size (a rotated log, smaller than the offset, is read from its start). A
 * request nginx retried on another server counts for the last one, which gave the answer.
 */
export function accessLogSince(file: string, offset: number | undefined): Shell {
  return script(
    `f=$1; off=$2
[ -r "$f" ] || { echo missing; exit 0; }
size=$(wc -c < "$f" | tr -d ' ')
echo "size $size"
[ -z "$off" ] && exit 0
[ "$size" -lt "$off" ] && off=0
tail -c +$((off + 1)) "$f" | head -c $((size - off)) | awk -F'|' 'NF >= 3 {
  n = split($3, a, ", "); u = a[n]; c[u]++; if ($2 >= 500) e[u]++
} END { for (u in c) print u, c[u], e[u] + 0 }'`,
    file,
    offset === undefined ? '' : String(offset),
  )
}
