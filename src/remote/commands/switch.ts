/**
 * The switch in one round trip per barrier: the upstream install, `nginx -t`, the reload, the
 * verify through nginx and the record (state.json and `current`) run in one script on the host,
 * which puts the previous upstream file back (and reloads nginx, when the new one may have gone
 * live) on any failure. The all-or-nothing switch over several hosts runs it twice: `install`
 * (recheck the slot, install, test) on every host, then `activate` (reload, verify, record) on
 * every host; one host runs `all`. The file is written as installUpstream writes it (backup
 * taken or kept, renamed into place or through `sudo -n tee`), the commands run as given
 * (`sudo -n nginx -t`, ...), so the sudoers lines of the README still match.
 *
 * Output: `STEP <name>` as each step starts (recheck, install, test, reload, verify, record), then
 * `OK`; on a failure `FAILED <step>`, the step's stderr on stderr, then `RESTORED` (file back, and
 * `RELOADED` when nginx was reloaded on it) or `RESTORE-FAILED`, and exit SWITCH_FAILED.
 * `SKIPPED verify` (and `SKIPPED record`) when the host has no HTTP client: the runner verifies
 * through the tunnel, then records.
 */
import type { Layout } from '../layout.js'
import { script, userCommand, type Shell } from '../shell.js'
import { HTTP_FUNCTIONS, type HttpClientChoice } from './http.js'
import type { NginxCommands } from './nginx.js'
import { SLOT_EXITED } from './slot.js'

export const SWITCH_FAILED = 6

export type SwitchStage = 'install' | 'activate' | 'all'

export type SwitchStep = 'recheck' | 'install' | 'test' | 'reload' | 'verify' | 'record'

export interface SwitchSpec {
  stage: SwitchStage
  /** The upstream file nginx includes, and where the file from before the run is kept. */
  file: string
  backup: string
  /** `take` a backup of the file it replaces, or `keep` the one taken earlier in the run. */
  backupMode: 'take' | 'keep'
  nginx: NginxCommands
  /**
   * install/all: the target slot still runs (checkAlive(slot, startedByThisRun)) and answers
   * health-path on its port. Omitted: no recheck.
   */
  recheck?: { alive: Shell; port: number; path: string }
  /** activate/all: requests to the verify port reach one of `expected` (`127.0.0.1:<port>`). */
  verify: { port: number; path: string; expected: string[]; timeoutMs: number; header: string }
  /**
   * activate/all: after the verify, state.json and `current` name the new release (state.json
   * as the runner computed it; a failure puts the previous state.json back).
   */
  record?: { layout: Layout; version: string; stateJson: string }
  client?: HttpClientChoice
  /** install/all: the new upstream file (renderUpstream). */
  content?: string
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
stage=$1; file=$2; backup=$3; mode=$4; sudo=$5; testcmd=$6; reloadcmd=$7
alive=$8; rport=$9; shift 9
rpath=$1; vport=$2; vpath=$3; expected=$4; vtimeout=$5; vheader=$6; client=$7
state=$8; statejson=$9; shift 9
current=$1; target=$2; content=$3
${PUT_FILE}
[ "$client" = auto ] && client=$(http_client)
http_tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$http_tmp"' EXIT
installed=no; reloaded=no
fail() {
  echo "FAILED $1"
  [ -z "$2" ] || printf '%s\\n' "$2" >&2
  if [ "$installed" = yes ]; then
    if { if [ -f "$backup" ]; then put < "$backup"
         elif [ -e "$file" ] && ! rm -f "$file" 2>/dev/null; then put < /dev/null
         fi; }; then
      echo RESTORED
      if [ "$reloaded" = yes ]; then sh -c "$reloadcmd" >&2 && echo RELOADED || echo RELOAD-FAILED; fi
    else
      echo RESTORE-FAILED
    fi
  fi
  exit ${SWITCH_FAILED}
}
run() {
  # $1 step, $2 command line: its output (stdout too: it must not pass for our report) on
  # stderr, and its tail in the failure.
  sh -c "$2" > "$http_tmp/err" 2>&1 || fail "$1" "$(tail -n 20 "$http_tmp/err")"
  cat "$http_tmp/err" >&2
}
if [ "$stage" != activate ]; then
  if [ -n "$alive" ]; then
    echo "STEP recheck"
    out=$(sh -c "$alive" 2>&1)
    [ $? -ne ${SLOT_EXITED} ] || fail recheck "the slot is no longer running; last lines of its log:
$out"
    if [ "$client" != none ]; then
      http_get "$client" "$rport" "$rpath" 5000 ""
      if [ -n "$err" ]; then fail recheck "GET $rpath: $err"; fi
      if [ "$code" -lt 200 ] || [ "$code" -gt 299 ]; then fail recheck "GET $rpath answered $code"; fi
    fi
  fi
  echo "STEP install"
  installed=yes
  if [ "$mode" = take ]; then
    if [ -f "$file" ]; then cp -p "$file" "$backup" || fail install; else rm -f "$backup"; fi
  fi
  printf '%s' "$content" > "$backup.new" && chmod 644 "$backup.new" || fail install
  if ! { cp "$backup.new" "$file.tmp.$$" 2>/dev/null && mv -f "$file.tmp.$$" "$file"; }; then
    rm -f "$file.tmp.$$" 2>/dev/null || true
    put < "$backup.new" 2> "$http_tmp/err" || fail install "$(tail -n 20 "$http_tmp/err")"
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
  echo "STEP verify"
  if [ "$client" = none ]; then echo "SKIPPED verify"
  else
    start=$(now_ms); last=
    while :; do
      http_get "$client" "$vport" "$vpath" 2000 "$vheader"
      if [ -n "$err" ]; then last=$err
      else
        case " $expected " in
          *" $hval "*) [ "$code" -ge 200 ] && [ "$code" -le 299 ] && break ;;
        esac
        last="nginx answered $code from \${hval:-no upstream}, expected $(echo $expected | sed 's/ / or /g')"
      fi
      [ $(($(now_ms) - start)) -lt "$vtimeout" ] || fail verify "after the reload, nginx did not send requests where expected within $((vtimeout / 1000))s ($last)"
      sleep 0.05
    done
  fi
  if [ -n "$state" ] && [ "$client" = none ]; then
    # Not verified here: the runner verifies through the tunnel, then records.
    echo "SKIPPED record"
  elif [ -n "$state" ]; then
    echo "STEP record"
    umask 022
    { [ ! -f "$state" ] || cp -p "$state" "$state.prev.$$"; } &&
      printf '%s' "$statejson" > "$state.tmp.$$" && chmod 644 "$state.tmp.$$" && mv -f "$state.tmp.$$" "$state" ||
      { rm -f "$state.tmp.$$" "$state.prev.$$"; fail record "cannot write $state"; }
    if ! { ln -sfn "$target" "$current.tmp" && mv -T "$current.tmp" "$current"; } 2> "$http_tmp/err"; then
      if [ -f "$state.prev.$$" ]; then mv -f "$state.prev.$$" "$state"; else rm -f "$state"; fi
      fail record "$(tail -n 20 "$http_tmp/err")"
    fi
    rm -f "$state.prev.$$"
    cp -p "$state" "$state.bak.tmp.$$" && mv -f "$state.bak.tmp.$$" "$state.bak" || rm -f "$state.bak.tmp.$$"
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
    String(verify.port),
    verify.path,
    verify.expected.join(' '),
    String(verify.timeoutMs || VERIFY_TIMEOUT_MS),
    verify.header,
    spec.client ?? 'auto',
    record?.layout.state ?? '',
    record?.stateJson ?? '',
    record?.layout.current ?? '',
    record ? `releases/${record.version}` : '',
    spec.content ?? '',
  )
}

/** As in nginx.ts: write stdin over $file as this user, else through `sudo -n tee`. */
const PUT_FILE = `put() {
  if [ "$sudo" = sudo ] && ! [ -w "$file" ]; then sudo -n tee "$file" > /dev/null; else cat > "$file"; fi
}`

export interface SwitchResult {
  ok: boolean
  /** The steps that started, in order. */
  steps: SwitchStep[]
  failedStep?: SwitchStep
  /** After a failure: the file from before is back; `reloaded`: nginx reloaded on it. */
  restored: boolean
  reloaded: boolean
  /** The host has no HTTP client: verify through the tunnel (Host.httpGet). */
  verifySkipped: boolean
}

export function parseSwitch(stdout: string): SwitchResult {
  const lines = stdout.split('\n')
  const steps = lines
    .filter((line) => line.startsWith('STEP '))
    .map((line) => line.slice(5) as SwitchStep)
  const failed = lines.find((line) => line.startsWith('FAILED '))
  return {
    ok: lines.includes('OK'),
    steps,
    ...(failed ? { failedStep: failed.slice(7) as SwitchStep } : {}),
    restored: lines.includes('RESTORED'),
    reloaded: lines.includes('RELOADED'),
    verifySkipped: lines.includes('SKIPPED verify'),
  }
}

/** `switch: <step>` as today's step names, for HostError. */
export function switchStepName(step: SwitchStep | undefined): string {
  switch (step) {
    case 'install':
    case 'test':
      return 'switch: install upstream and test nginx'
    case 'reload':
      return 'switch: reload nginx'
    case undefined:
      return 'switch'
    default:
      return `switch: ${step}`
  }
}
