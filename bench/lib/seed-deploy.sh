#!/usr/bin/env bash
# The deploy script teams run before this action (DESIGN.md, "Who uses it"): scp a tarball, ssh,
# stop the old process, start the new one on the same port behind the same nginx, sleep a fixed
# time and hope it is up. The benchmarks' baseline.
#
#   SSH_KEY=... KNOWN_HOSTS=... seed-deploy.sh <host> <release dir> <version>
#
# Env: APP_PORT (default 3000), SETTLE_SECONDS (the fixed sleep, default 2), DEPLOY_DIR (/srv/seed),
# SSH_PORT (default 22; the latency lab's proxy has another).
set -euo pipefail
host=$1 release=$2 version=$3
port=${APP_PORT:-3000} settle=${SETTLE_SECONDS:-2} dir=${DEPLOY_DIR:-/srv/seed}
ssh_port=${SSH_PORT:-22}
ssh_opts=(-F /dev/null -i "$SSH_KEY" -o "UserKnownHostsFile=$KNOWN_HOSTS" -o StrictHostKeyChecking=yes -o BatchMode=yes)

tarball=$(mktemp --suffix .tar.gz)
trap 'rm -f "$tarball"' EXIT
tar -czf "$tarball" -C "$release" .
scp -q -P "$ssh_port" "${ssh_opts[@]}" "$tarball" "root@$host:/tmp/release-$version.tar.gz"

# Stop the old process (SIGTERM: it stops listening at once and finishes its in-flight requests),
# wait until the port is free, start the new one: the baseline's best case.
ssh -p "$ssh_port" "${ssh_opts[@]}" "root@$host" sh -s -- "$dir" "$version" "$port" <<'REMOTE'
set -eu
dir=$1 version=$2 port=$3
mkdir -p "$dir/releases/$version"
tar -xzf "/tmp/release-$version.tar.gz" -C "$dir/releases/$version"
rm -f "/tmp/release-$version.tar.gz"
if [ -f "$dir/app.pid" ]; then
  pid=$(cat "$dir/app.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    [ -z "$(ss -Hltn "sport = :$port")" ] && break
    sleep 0.05
  done
fi
ln -sfn "releases/$version" "$dir/current"
cd "$dir/current"
PORT=$port setsid nohup node server.js >>"$dir/app.log" 2>&1 </dev/null &
echo $! > "$dir/app.pid"
REMOTE

sleep "$settle"
