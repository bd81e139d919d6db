/**
 * HTTP requests made on the host itself, by the scripts that poll in a loop there (health,
 * switch verify) so the runner waits one round trip instead of one per request. The README
 * requires no HTTP client on hosts (only sh, tar, flock, setsid, sha256sum, nginx): these scripts
 * use curl, else GNU Wget, and report `none` otherwise; the runner then polls through the SSH tunnel
 * as before (`Host.httpGet`). The prepare block reports the client (`http_client`), so the
 * runner knows which before it needs one.
 */

export type HttpClient = 'curl' | 'wget' | 'none'

/** What a script is told to use: a client, or `auto` to look for one itself. */
export type HttpClientChoice = HttpClient | 'auto'

/** The first line of `http_client`'s output, as a client. */
export function parseHttpClient(text: string): HttpClient {
  const word = text.trim()
  return word === 'curl' || word === 'wget' ? word : 'none'
}

/** `http_client`: prints curl, wget (GNU Wget: BusyBox's lacks --content-on-error) or none. */
export const HTTP_CLIENT_FUNCTION = `http_client() {
  if command -v curl >/dev/null 2>&1; then echo curl
  elif wget --version 2>/dev/null | grep -q 'GNU Wget'; then echo wget
  else echo none; fi
}`

/**
 * The temp dir the HTTP functions need, `$http_tmp`, removed on every way out: a normal exit, and
 * a signal, which dash otherwise dies of without running the EXIT trap (a runner that went away
 * closes the connection: the next line the script prints raises SIGPIPE). Left out, each such
 * run left a `tmp.*` directory in the host's /tmp.
 */
export const HTTP_TMP = `http_tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$http_tmp"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM`

/**
 * Shell functions (need the temp dir of HTTP_TMP): HTTP_CLIENT_FUNCTION and
 * `now_ms`: milliseconds since boot (/proc/uptime; hosts are Linux).
 * `sleep_ms MS`.
 * `http_get CLIENT PORT PATH TIMEOUT_MS HEADER_GLOB`: GET http://127.0.0.1:PORT/PATH with `Host:
 * localhost` (as the SSH tunnel sends it); sets `code` (the status, 0 without an answer),
 * `hval` (the value of the last response header whose name matches HEADER_GLOB, see
 * headerGlob; '' when absent) and `err` (why there was no answer). `http_body` prints the
 * answer's first 64 KiB. The answer is read with shell builtins only: the loops poll every 50 ms
 * on many hosts at once, and each process they start costs about a millisecond of CPU.
 */
export const HTTP_FUNCTIONS = `${HTTP_CLIENT_FUNCTION}
now_ms() {
  read -r _up _ < /proc/uptime
  _f=\${_up#*.}; _f=\${_f#0}
  echo $(( \${_up%.*} * 1000 + \${_f:-0} * 10 ))
}
sleep_ms() {
  sleep "$(($1 / 1000)).$(printf '%03d' $(($1 % 1000)))"
}
http_get() {
  code=0; hval=; err=
  : > "$http_tmp/h"; : > "$http_tmp/b"
  _s=$((($4 + 999) / 1000))
  if [ "$1" = curl ]; then
    curl -s -o "$http_tmp/b" -D "$http_tmp/h" -H 'Host: localhost' \\
      --max-time "$(($4 / 1000)).$(printf '%03d' $(($4 % 1000)))" "http://127.0.0.1:$2$3" > /dev/null 2>&1
    _rc=$?
    case $_rc in
      0) ;;
      7) err="connection refused: nothing listens on port $2" ;;
      28) err="no response from port $2 within $_s s" ;;
      *) err="curl exited $_rc" ;;
    esac
  else
    wget -q -S -t 1 -T "$_s" --content-on-error -O "$http_tmp/b" --header 'Host: localhost' \\
      "http://127.0.0.1:$2$3" 2> "$http_tmp/h"
    _rc=$?
    case $_rc in
      0 | 8) ;;
      4) err="no answer from port $2 (connection refused or timed out)" ;;
      *) err="wget exited $_rc" ;;
    esac
  fi
  _cr=$(printf '\\r')
  while IFS= read -r _line || [ -n "$_line" ]; do
    _line=\${_line%"$_cr"}
    _line=\${_line#"\${_line%%[! ]*}"}
    case $_line in
      HTTP/*)
        _line=\${_line#* }
        case $_line in [0-9][0-9][0-9] | [0-9][0-9][0-9]" "*) code=\${_line%%" "*} ;; esac ;;
      *:*)
        [ -n "$5" ] || continue
        # shellcheck disable=SC2254 # HEADER_GLOB is a pattern (headerGlob)
        case \${_line%%:*} in $5)
          hval=\${_line#*:}
          hval=\${hval#"\${hval%%[! ]*}"} ;;
        esac ;;
    esac
  done < "$http_tmp/h"
  [ "$code" = 0 ] || err=
  return 0
}
http_body() {
  head -c 65536 "$http_tmp/b"
}`

/**
 * A shell glob that matches the header name `name` in any case (header names are
 * case-insensitive): `X-Up` → `[Xx]-[Uu][Pp]`.
 */
export function headerGlob(name: string): string {
  return [...name]
    .map((c) =>
      c.toLowerCase() === c.toUpperCase() ? c : `[${c.toUpperCase()}${c.toLowerCase()}]`,
    )
    .join('')
}
