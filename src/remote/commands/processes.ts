/**
 * The processes of a slot on the host, as every `/bin/sh` runs them (dash, bash, BusyBox ash): who
 * belongs to the slot, stopping all of them, and who listens on its port. A start command that
 * does not begin with `exec` (`node server.js` under dash, `npm start`, `cd web && ...`) leaves
 * the shell as the slot's leader and the server below it, so a slot is addressed as a whole:
 * its process group (built-in manager) or its unit's cgroup (systemd), never the leader's pid.
 *
 * The functions set variables instead of printing where the loops call them, so that a check
 * every 50 ms starts no subshell.
 */
import { cmd, script, type Shell } from '../shell.js'

/** Exit status of a start whose slot port is held by a process the action may not stop. */
export const PORT_IN_USE = 8

/** How long stop_group waits after the SIGKILL before it names what is left (in 50 ms checks). */
const AFTER_KILL_CHECKS = 100

/**
 * Shell functions:
 * `since_boot FILE`: FILE was written since the host booted (a pidfile from before a reboot names
 * a process that is gone, and its number may be another's by now).
 * `group_pids PGID`: sets `pids` to the processes of group PGID that are not zombies (a host whose
 * pid 1 does not reap orphans keeps dead ones, which `kill -0` still counts), read from
 * /proc/<pid>/stat.
 * `slot_pids PIDFILE` (built-in manager): `pids` of the slot whose leader PIDFILE names (the
 * leader ran setsid: its pid is the group's id).
 * `unit_pids UNIT` (systemd): `pids` of the unit's cgroup (cgroup v2 or v1; else the processes
 * whose /proc/<pid>/cgroup names the unit).
 * `stop_group PGID TIMEOUT WHAT [asked]`: SIGTERM to the group (not when `asked`: a stop-command
 * did), waits until none of it is left, SIGKILL to the group after TIMEOUT s; fails naming the
 * processes still there 5 s after the SIGKILL.
 * `describe "PID..."`: sets `described` to `pid 12 (node server.js), ...`; `-UID` is a socket
 * whose process the login user may not see.
 * `listeners PORT [PIDS]`: sets `listening` to `<pid> <inode>` lines, one per process and socket
 * that listens on TCP PORT (IPv4 and IPv6, any address: Node's listen(PORT) binds ::), read from
 * /proc/net/tcp{,6} and the processes' fds; the pid is `-<uid>` where no process the login user
 * may see holds the socket. With PIDS (a slot's), only their fds are read when they hold every
 * such socket (the usual case): reading every process's fds costs far more on a busy host.
 * `port_owner PORT` (after `*_pids`): `problem` is '' when something listens on PORT and every
 * listener is one of `pids`; else returns 1 (nothing of the slot listens) or 2 (another process
 * listens; `problem` names it).
 * `oldest_of "PID..."`: sets `oldest` to the one that started first ('' for none).
 * `server_pid PORT` (after `*_pids`): sets `server` to the oldest process of `pids` that holds a
 * socket listening on PORT (the server: gunicorn's master, not the shell above it); '' for none.
 * `main_pid PGID`: sets `main` to the oldest process of the group that is not a shell (a worker's
 * main process below `sh -c`), or the oldest of all when every one is.
 * `free_port PORT MODE OWN LIVE DEPLOY APP SLOT SYSTEMCTL TIMEOUT`: who listens on the port SLOT
 * starts on, by the rule of README "What your app must do". OWN and LIVE set `pids` to the slot's
 * processes and the other slot's. Each listener is printed as `PORT <kind> <port> <who>`: `own`
 * (the slot itself), `live` (the other slot, live or warm), `unit` (this app's unit of the
 * slot), `service` (another systemd service), `leftover` (a process of the login user that runs
 * from DEPLOY/releases/ or has DEPLOY_PATH=DEPLOY), `stranger`, `hidden` (another user's). MODE
 * `check` only prints; `stop` stops own and leftover processes (their groups, as stop_group) and
 * the slot's unit, printing `PORT stopped ...`, and fails when anything else listens (then and
 * after the stops: `PORT busy ...`).
 */
export const PROCESS_FUNCTIONS = `since_boot() {
  read -r _up _ < /proc/uptime || return 0
  [ "$(stat -c %Y "$1" 2>/dev/null || echo 0)" -ge $(($(date +%s) - \${_up%.*} - 1)) ]
}
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  _stat=
  { read -r _stat < "/proc/$1/stat"; } 2>/dev/null
  case $_stat in *") Z "*) return 1 ;; esac
  return 0
}
group_pids() {
  pids=
  kill -0 "-$1" 2>/dev/null || return 0
  pids=$(cat /proc/[0-9]*/stat 2>/dev/null | awk -v g="$1" '{ s = $0; sub(/.*\\) /, "", s); split(s, f, " "); if (f[3] == g && f[1] != "Z") printf "%s%s", (n++ ? " " : ""), $1 }')
}
group_alive() {
  kill -0 "-$1" 2>/dev/null || return 1
  alive "$1" && return 0
  group_pids "$1"
  [ -n "$pids" ]
}
slot_pids() {
  pids=
  [ -s "$1" ] && since_boot "$1" || return 0
  read -r _g < "$1"
  case $_g in "" | *[!0-9]*) return 0 ;; esac
  group_pids "$_g"
}
unit_pids() {
  pids=
  [ -d /run/systemd/system ] || return 0
  _cg=$(systemctl show --property ControlGroup --value "$1" 2>/dev/null)
  [ -n "$_cg" ] || return 0
  for _d in "/sys/fs/cgroup$_cg" "/sys/fs/cgroup/systemd$_cg"; do
    [ -r "$_d/cgroup.procs" ] || continue
    pids=$(tr -s '\\n' ' ' < "$_d/cgroup.procs")
    pids=\${pids% }
    return 0
  done
  pids=$(grep -l "/$1\\.service$" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3 | tr -s '\\n' ' ')
  pids=\${pids% }
}
wait_group() {
  _i=0
  while group_alive "$1"; do
    [ "$_i" -lt "$2" ] || return 1
    sleep 0.05
    _i=$((_i + 1))
  done
}
stop_group() {
  group_alive "$1" || return 0
  [ "$4" = asked ] || kill -TERM "-$1" 2>/dev/null
  wait_group "$1" $(($2 * 20)) && return 0
  echo "$3 did not stop within $2 s: SIGKILL" >&2
  kill -KILL "-$1" 2>/dev/null
  wait_group "$1" ${AFTER_KILL_CHECKS} && return 0
  group_pids "$1"
  describe "$pids"
  echo "$3 still runs 5 s after SIGKILL: $described" >&2
  return 1
}
describe() {
  described=
  for _p in $1; do
    case $_p in
      -*) _d="a process of another user (uid \${_p#-})" ;;
      *) _d="pid $_p ($(tr '\\0' ' ' < "/proc/$_p/cmdline" 2>/dev/null | cut -c 1-100 | sed 's/ *$//'))" ;;
    esac
    described="\${described:+$described, }$_d"
  done
}
listeners() {
  listening=
  _socks=$(awk -v p=":$(printf '%04X' "$1")" '$4 == "0A" && substr($2, length($2) - 4) == p { print $10, $8 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null)
  [ -n "$_socks" ] || return 0
  # The slot's own processes first: when they hold every listening socket, no other is read.
  # (/proc/self/fd, ls's own, makes ls name each directory even for one process.)
  if [ -n "$2" ]; then
    _fds=/proc/self/fd
    for _p in $2; do _fds="$_fds /proc/$_p/fd"; done
    # shellcheck disable=SC2086 # one directory per pid
    fd_sockets $_fds
    case $listening in -* | *"
-"*) ;; *) return 0 ;; esac
  fi
  fd_sockets /proc/[0-9]*/fd
}
fd_sockets() {
  # shellcheck disable=SC2012 # /proc/<pid>/fd holds numbers, and ls -l shows where each points
  listening=$(ls -l "$@" 2>/dev/null | awk -v socks="$_socks" '
    BEGIN { n = split(socks, s, "\\n"); for (i = 1; i <= n; i++) { split(s[i], f, " "); uid[f[1]] = f[2] } }
    /^\\/proc\\/[0-9]+\\/fd:$/ { split($0, a, "/"); pid = a[3]; next }
    /^\\/proc\\/self\\/fd:$/ { pid = ""; next }
    pid != "" && /socket:\\[/ { i = $NF; gsub(/[^0-9]/, "", i); if ((i in uid) && !((pid, i) in done)) { print pid, i; seen[i] = 1; done[pid, i] = 1 } }
    END { for (i in uid) if (!(i in seen)) print "-" uid[i], i }')
}
# shellcheck disable=SC2034 # problem is for the caller
port_owner() {
  listeners "$1" "$pids"
  _own=0; _others=
  for _p in $(printf '%s\\n' "$listening" | cut -d' ' -f1 | sort -u); do
    case " $pids " in *" $_p "*) _own=$((_own + 1)) ;; *) _others="$_others $_p" ;; esac
  done
  if [ -n "$_others" ]; then
    describe "$_others"
    problem="port $1 is held by $described, which is not a process of the slot"
    return 2
  fi
  problem=
  [ "$_own" -gt 0 ] && return 0
  problem="nothing of the slot listens on port $1"
  return 1
}
oldest_of() {
  oldest=; _since=
  for _p in $1; do
    { read -r _s < "/proc/$_p/stat"; } 2>/dev/null || continue
    # shellcheck disable=SC2086 # the fields after the command's name, split on purpose
    set -- \${_s##*") "}
    if [ -z "$oldest" ] || [ "\${20}" -lt "$_since" ]; then oldest=$_p; _since=\${20}; fi
  done
}
# shellcheck disable=SC2034 # server is for the caller
server_pid() {
  listeners "$1" "$pids"
  _held=
  for _p in $(printf '%s\\n' "$listening" | cut -d' ' -f1 | sort -u); do
    case " $pids " in *" $_p "*) _held="$_held $_p" ;; esac
  done
  oldest_of "$_held"
  server=$oldest
}
# shellcheck disable=SC2034 # main is for the caller
main_pid() {
  group_pids "$1"
  _apps=
  for _p in $pids; do
    _c=
    { read -r _c < "/proc/$_p/comm"; } 2>/dev/null
    case $_c in sh | dash | bash | ash | busybox) ;; *) _apps="$_apps $_p" ;; esac
  done
  oldest_of "\${_apps:-$pids}"
  main=$oldest
}
port_user() {
  case $1 in -*) kind=hidden; return ;; esac
  case " $_ownp " in *" $1 "*) kind=own; return ;; esac
  case " $_livep " in *" $1 "*) kind=live; return ;; esac
  if [ -d /run/systemd/system ]; then
    _unit=$(sed -n 's|.*/\\([^/]*\\.service\\)$|\\1|p' "/proc/$1/cgroup" 2>/dev/null | head -n 1)
    case $_unit in
      "") ;;
      "$_app@$_slot.service") kind=unit; return ;;
      "$_app@"*) kind=live; return ;;
      *) kind=service; return ;;
    esac
  fi
  _pg=$(cut -d' ' -f5 < /proc/$$/stat)
  if [ "$(awk '/^Uid:/ { print $2 }' "/proc/$1/status" 2>/dev/null)" = "$(id -u)" ] &&
    [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f3)" != "$_pg" ]; then
    case $(readlink "/proc/$1/cwd" 2>/dev/null) in "$_deploy/releases/"*) kind=leftover; return ;; esac
    if tr '\\0' '\\n' < "/proc/$1/environ" 2>/dev/null | grep -qxF "DEPLOY_PATH=$_deploy"; then
      kind=leftover
      return
    fi
  fi
  kind=stranger
}
free_port() {
  _port=$1; _mode=$2; _deploy=$5; _app=$6; _slot=$7; _sctl=$8
  eval "$3"; _ownp=$pids
  eval "$4"; _livep=$pids
  listeners "$_port"
  [ -n "$listening" ] || return 0
  _busy=no
  for _p in $(printf '%s\\n' "$listening" | cut -d' ' -f1 | sort -u); do
    case $_p in -*) ;; *) [ -d "/proc/$_p" ] || continue ;; esac
    _unit=
    port_user "$_p"
    describe "$_p"
    _what="$_port $described\${_unit:+, unit $_unit}"
    if [ "$_mode" = check ]; then echo "PORT $kind $_what"; continue; fi
    case $kind in
      own | leftover)
        _pg=$(sed 's/.*) //' "/proc/$_p/stat" 2>/dev/null | cut -d' ' -f3)
        if [ -n "$_pg" ] && stop_group "$_pg" "$9" "$described"; then echo "PORT stopped $_what"; else _busy=yes; fi ;;
      unit)
        if $_sctl disable --now --quiet "\${_unit%.service}" >&2; then echo "PORT stopped $_what"; else _busy=yes; fi ;;
      *) echo "PORT $kind $_what"; _busy=yes ;;
    esac
  done
  [ "$_mode" = stop ] || return 0
  [ "$_busy" = no ] || return 1
  listeners "$_port"
  [ -n "$listening" ] || return 0
  for _p in $(printf '%s\\n' "$listening" | cut -d' ' -f1 | sort -u); do
    describe "$_p"
    echo "PORT busy $_port $described"
  done
  return 1
}`

/** Sets `pids` to the processes of the built-in manager's slot whose leader `pidfile` names. */
export const builtinMembers = (pidfile: string): Shell => cmd('slot_pids', pidfile)

/** Sets `pids` to the processes of a systemd unit. */
export const unitMembers = (unit: string): Shell => cmd('unit_pids', unit)

/**
 * port_owner on its own, for a host whose health checks go through the SSH tunnel: exits 0 when
 * every listener on `port` is one of `members` (and one is), 1 when nothing of the slot listens,
 * 2 when another process does; prints port_owner's `problem` otherwise.
 */
export function checkPortOwner(members: Shell, port: number): Shell {
  return script(
    `${PROCESS_FUNCTIONS}
eval "$1"
port_owner "$2"
rc=$?
[ -z "$problem" ] || printf '%s\\n' "$problem"
exit $rc`,
    members.text,
    String(port),
  )
}

/** checkPortOwner's exit status when another process listens on the port. */
export const PORT_FOREIGN = 2

/** What free_port says of a process listening on a slot's port (see PROCESS_FUNCTIONS). */
export type PortUserKind =
  'own' | 'live' | 'unit' | 'service' | 'leftover' | 'stranger' | 'hidden' | 'stopped' | 'busy'

export interface PortUser {
  kind: PortUserKind
  port: number
  /** `pid 12 (node server.js)`, with `, unit <name>` for a systemd unit. */
  who: string
}

const PORT_USER_KINDS: readonly string[] = [
  'own',
  'live',
  'unit',
  'service',
  'leftover',
  'stranger',
  'hidden',
  'stopped',
  'busy',
] satisfies PortUserKind[]

/** The `PORT <kind> <port> <who>` lines of free_port's output; other lines are left out. */
export function parsePortUsers(output: string): PortUser[] {
  return output.split('\n').flatMap((line) => {
    const match = /^PORT (\w+) (\d+) (.*)$/.exec(line)
    if (!match || !PORT_USER_KINDS.includes(match[1]!)) return []
    return [{ kind: match[1] as PortUserKind, port: Number(match[2]), who: match[3]! }]
  })
}

/**
 * Why a slot cannot start on its port, from free_port's lines (in `stop` mode, after it stopped
 * what it may), or undefined when nothing in them keeps the port taken. `input`: the port's
 * input name (`blue-port`).
 */
export function portTakenProblem(users: PortUser[], input: string): string | undefined {
  const reasons = TAKEN_BY.flatMap(([kind, why]) => {
    const whos = users.filter((u) => u.kind === kind).map((u) => u.who)
    return whos.length === 0 ? [] : [why(whos.join(', '), whos.length > 1)]
  })
  if (reasons.length === 0) return undefined
  const port = users[0]!.port
  return `${input} ${port} is taken: ${reasons.join('; ')}. Stop it, or choose another ${input}.`
}

/** The kinds of listener that keep a port taken, and how each is worded (`many`: plural). */
const TAKEN_BY: [PortUserKind, (who: string, many: boolean) => string][] = [
  [
    'live',
    (who, many) =>
      `${who} of the other slot (live or warm) ${many ? 'listen' : 'listens'} on it too: it is never stopped for another slot. Does the start command listen on $PORT?`,
  ],
  [
    'service',
    (who, many) => `${who} of another systemd service ${many ? 'listen' : 'listens'} on it`,
  ],
  [
    'stranger',
    (who, many) =>
      `${who} ${many ? 'listen on it and are not processes' : 'listens on it and is not a process'} of this app`,
  ],
  ['hidden', (who, many) => `${who} ${many ? 'listen' : 'listens'} on it`],
  [
    'busy',
    (who, many) =>
      `${who} still ${many ? 'listen' : 'listens'} on it after the leftovers were stopped`,
  ],
]
