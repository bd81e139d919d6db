/**
 * The switch in one round trip per barrier: the upstream install, `nginx -t`, the reload, the
 * verify through nginx and the record (state.json and `current`) run in one script on the host,
 * which puts the previous upstream file back (and reloads nginx, when the new one may have gone
 * live) on any failure. The all-or-nothing switch over several hosts runs it twice: `install`
 * (recheck the slot, install, test) on every host, then `activate` (reload, verify, record) on
 * every host; one host runs `all`. It is the one install of an upstream file (UpstreamFile): the
 * backup taken or kept, the new file written next to it, then renamed into place or written
 * through `sudo -n tee`; the commands run as given (`sudo -n nginx -t`, ...), so the sudoers lines
 * of the README still match.
 *
 * Output: `CLIENT <curl|wget|none>`, `STEP <name>` as each step starts (recheck, bridge, install,
 * test, reload, verify, record), then `OK`; on a failure `FAILED <step> <exit status or ->`, the step's
 * detail on stderr, then `RESTORED` (file back, and `RELOADED` when nginx was reloaded on it) or
 * `RESTORE-FAILED`, and exit SWITCH_FAILED. `SKIPPED verify` (and `SKIPPED record`) when the host
 * has no HTTP client or no verify was asked: the runner verifies through the tunnel, then
 * records. `NO-CLIENT` (exit SWITCH_FAILED, nothing touched) when a recheck was asked of a host
 * without an HTTP client.
 */
import type { Layout } from '../layout.js'
import { script, userCommand, type Shell } from '../shell.js'
import {
  HTTP_FUNCTIONS,
  HTTP_TMP,
  headerGlob,
  parseHttpClient,
  type HttpClient,
  type HttpClientChoice,
} from './http.js'
import { STATE_FUNCTIONS } from './files.js'
import { CHECK_SLOT } from './health-loop.js'
import { PUT_FILE, type NginxCommands } from './nginx.js'
import { PROCESS_FUNCTIONS } from './processes.js'
import { SLOT_EXITED } from './slot.js'

export const SWITCH_FAILED = 6

export type SwitchStage = 'install' | 'activate' | 'all'

export type SwitchStep = 'recheck' | 'bridge' | 'install' | 'test' | 'reload' | 'verify' | 'record'

export interface SwitchSpec {
  stage: SwitchStage
  /** The upstream file nginx includes, and where the file from before the run is kept. */
  file: string
  backup: string
  /** `take` a backup of the file it replaces, or `keep` the one taken earlier in the run. */
  backupMode: 'take' | 'keep'
  nginx: NginxCommands
  /**
   * install/all: the target slot still runs (checkAlive(slot, startedByThisRun)), answers
   * health-path (and version-path with `version` in its body; '' for none) on its port, and
   * nothing but its own processes listen there (port_owner). Needs an
   * HTTP client: without one the script prints `NO-CLIENT` and touches nothing. Omitted: no
   * recheck.
   */
  recheck?: {
    alive: Shell
    /** The slot manager's members(slot): every listener on the port must be one of them. */
    members: Shell
    port: number
    path: string
    versionPath: string
    version: string
  }
  /**
   * activate/all: requests to the verify port reach one of `expected` (`127.0.0.1:<port>`).
   * Omitted: `SKIPPED verify`, the runner verifies (the load balancer's check is not a list).
   */
  verify?: { port: number; path: string; expected: string[]; timeoutMs: number; header: string }
  /**
   * activate/all: after the verify, state.json and `current` name the new release (state.json
   * as the runner computed it; a failure puts the previous state.json back).
   */
  record?: { layout: Layout; version: string; stateJson: string }
  client?: HttpClientChoice
  /** install/all: the new upstream file (renderUpstream). */
  content?: string
  /**
   * install/all: after the recheck, before the install, the release's asset folders bridged
   * (bridgeAssets: a rollback's), its output in this one's. Omitted: none.
   */
  bridge?: Shell
}

const VERIFY_TIMEOUT_MS = 10_000

/**
 * The new upstream file and state.json are arguments, not stdin: a command that reads stdin waits
 * for data the runner sends only once the exec was accepted, one more round trip. Neither is
 * secret (both are world-readable files on the host) and both are small (state.json is bounded
 * by keep-releases; an argument may hold 128 KiB).
 */
export function switchUpstream(spec: SwitchSpec): Shell {
  const { nginx, recheck, verify, record } = spec
  return script(
    `${HTTP_FUNCTIONS}
${CHECK_SLOT}
${STATE_FUNCTIONS}
${PROCESS_FUNCTIONS}
stage=$1; file=$2; backup=$3; mode=$4; sudo=$5; testcmd=$6; reloadcmd=$7
alive=$8; rport=$9; shift 9
rpath=$1; rvpath=$2; rversion=$3; vport=$4; vpath=$5; expected=$6; vtimeout=$7; vheader=$8; client=$9
shift 9
state=$1; statejson=$2; current=$3; target=$4; content=$5; members=$6; bridge=$7
${PUT_FILE}
[ "$client" = auto ] && client=$(http_client)
echo "CLIENT $client"
if [ "$stage" != activate ] && [ -n "$alive" ] && [ "$client" = none ]; then
  # The recheck needs an HTTP request: the runner makes it through the tunnel, then comes back.
  echo NO-CLIENT
  exit ${SWITCH_FAILED}
fi
${HTTP_TMP}
installed=no; reloaded=no
fail() {
  # $1 step, $2 its exit status ('-': none), $3 why (on stderr, for the runner's error).
  echo "FAILED $1 $2"
  [ -z "$3" ] || printf '%s\n' "$3" >&2
  if [ "$installed" = yes ]; then
    if { if [ -f "$backup" ]; then put < "$backup"
         elif [ -e "$file" ] && ! rm -f "$file" 2>/dev/null; then put < /dev/null
         fi; } 2> "$http_tmp/rerr"; then
      echo RESTORED
      if [ "$reloaded" = yes ]; then
        if (eval "$reloadcmd") > "$http_tmp/rerr" 2>&1; then echo RELOADED
        else echo RELOAD-FAILED; tail -n 5 "$http_tmp/rerr" >&2; fi
      fi
    else
      echo RESTORE-FAILED; tail -n 5 "$http_tmp/rerr" >&2
    fi
  fi
  exit ${SWITCH_FAILED}
}
run() {
  # $1 step, $2 command line: its output (stdout too: it must not pass for our report) is the
  # failure's detail.
  (eval "$2") > "$http_tmp/err" 2>&1 || fail "$1" $? "$(tail -n 20 "$http_tmp/err")"
}
if [ "$stage" != activate ]; then
  if [ -n "$alive" ]; then
    echo "STEP recheck"
    out=$(eval "$alive" 2>&1)
    rc=$?
    [ $rc -ne ${SLOT_EXITED} ] || fail recheck $rc "$out"
    check_slot "$client" "$rport" "$rpath" "$rvpath" "$rversion" 5000
    [ -z "$problem" ] || fail recheck - "$problem"
    eval "$members"
    port_owner "$rport" || fail recheck - "$problem"
  fi
  if [ -n "$bridge" ]; then
    echo "STEP bridge"
    (eval "$bridge") 2> "$http_tmp/err" || fail bridge $? "$(tail -n 20 "$http_tmp/err")"
  fi
  echo "STEP install"
  if [ "$mode" = take ]; then
    if [ -f "$file" ]; then
      cp -p "$file" "$backup" 2> "$http_tmp/err" || fail install $? "$(tail -n 20 "$http_tmp/err")"
    else rm -f "$backup"; fi
  fi
  # From here on a failure puts the file from the backup back.
  installed=yes
  { printf '%s' "$content" > "$backup.new" && chmod 644 "$backup.new"; } 2> "$http_tmp/err" ||
    fail install $? "$(tail -n 20 "$http_tmp/err")"
  if ! { cp "$backup.new" "$file.tmp.$$" 2>/dev/null && mv -f "$file.tmp.$$" "$file"; }; then
    rm -f "$file.tmp.$$" 2>/dev/null || true
    put < "$backup.new" 2> "$http_tmp/err" || fail install $? "$(tail -n 20 "$http_tmp/err")"
  fi
  rm -f "$backup.new"
  echo "STEP test"
  run test "$testcmd"
fi
if [ "$stage" != install ]; then
  installed=yes
  echo "STEP reload"
  reloaded=yes
  run reload "$reloadcmd"
  if [ -z "$vport" ] || [ "$client" = none ]; then
    # Not verified here: the runner verifies through the tunnel, then records.
    echo "SKIPPED verify"
    [ -z "$state" ] || echo "SKIPPED record"
  else
    echo "STEP verify"
    start=$(now_ms); last=
    while :; do
      http_get "$client" "$vport" "$vpath" 2000 "$vheader"
      if [ -n "$err" ]; then last=$err
      else
        case " $expected " in
          *" $hval "*) [ "$code" -ge 200 ] && [ "$code" -le 299 ] && break ;;
        esac
        last="nginx answered $code from \${hval:-no upstream}"
      fi
      [ $(($(now_ms) - start)) -lt "$vtimeout" ] ||
        fail verify - "after the reload, nginx did not send requests where expected within $((vtimeout / 1000))s ($last, expected $(printf '%s' "$expected" | sed 's/ / or /g'))"
      sleep 0.05
    done
    if [ -n "$state" ]; then
      echo "STEP record"
      { { [ ! -f "$state" ] || cp -p "$state" "$state.prev.$$"; } && write_state "$state" "$statejson"; } ||
        { rm -f "$state.prev.$$"; fail record - "cannot write $state"; }
      if ! { ln -sfn "$target" "$current.tmp" && mv -T "$current.tmp" "$current"; } 2> "$http_tmp/err"; then
        if [ -f "$state.prev.$$" ]; then mv -f "$state.prev.$$" "$state"; else rm -f "$state"; fi
        fail record - "$(tail -n 20 "$http_tmp/err")"
      fi
      rm -f "$state.prev.$$"
      backup_state "$state"
    fi
  fi
fi
echo OK`,
    spec.stage,
    spec.file,
    spec.backup,
    spec.backupMode,
    nginx.sudo ? 'sudo' : 'no-sudo',
    userCommand(nginx.test, nginx.sudo).text,
    userCommand(nginx.reload, nginx.sudo).text,
    recheck?.alive.text ?? '',
    String(recheck?.port ?? 0),
    recheck?.path ?? '',
    recheck?.versionPath ?? '',
    recheck?.version ?? '',
    verify ? String(verify.port) : '',
    verify?.path ?? '',
    verify?.expected.join(' ') ?? '',
    String(verify?.timeoutMs || VERIFY_TIMEOUT_MS),
    verify ? headerGlob(verify.header) : '',
    spec.client ?? 'auto',
    record?.layout.state ?? '',
    record?.stateJson ?? '',
    record?.layout.current ?? '',
    record ? `releases/${record.version}` : '',
    spec.content ?? '',
    recheck?.members.text ?? '',
    spec.bridge?.text ?? '',
  )
}

export interface SwitchResult {
  ok: boolean
  /** The steps that started, in order. */
  steps: SwitchStep[]
  failedStep?: SwitchStep
  /** The failed step's exit status (undefined: a check that failed, not a command). */
  failedExit?: number
  /** After a failure: the file from before is back; `reloaded`: nginx reloaded on it. */
  restored: boolean
  reloaded: boolean
  /** The host has no HTTP client (or no verify was asked): verify through the tunnel. */
  verifySkipped: boolean
  /** The HTTP client the script used (`CLIENT` line); undefined when it did not say. */
  client?: HttpClient
  /** A recheck was asked of a host without an HTTP client: nothing was touched. */
  noClient: boolean
}

export function parseSwitch(stdout: string): SwitchResult {
  const lines = stdout.split('\n')
  const steps = lines
    .filter((line) => line.startsWith('STEP '))
    .map((line) => line.slice(5) as SwitchStep)
  const [step, exit] =
    lines
      .find((line) => line.startsWith('FAILED '))
      ?.slice(7)
      .split(' ') ?? []
  const client = lines.find((line) => line.startsWith('CLIENT '))?.slice(7)
  return {
    ok: lines.includes('OK'),
    steps,
    ...(step ? { failedStep: step as SwitchStep } : {}),
    ...(exit && /^\d+$/.test(exit) ? { failedExit: Number(exit) } : {}),
    restored: lines.includes('RESTORED'),
    reloaded: lines.includes('RELOADED'),
    verifySkipped: lines.includes('SKIPPED verify'),
    ...(client ? { client: parseHttpClient(client) } : {}),
    noClient: lines.includes('NO-CLIENT'),
  }
}
