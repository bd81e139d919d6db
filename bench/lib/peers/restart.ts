/**
 * The restart that Capistrano and shipit run after switching `current` (neither restarts an app
 * by itself; their docs leave it to a task of yours): the same stop-old, start-new on one port as
 * the bash baseline (bench/lib/seed-deploy.sh), as one sh line.
 */
export function restartCommand(deployTo: string, port: number): string {
  const pid = `${deployTo}/app.pid`
  return [
    `if [ -f ${pid} ]; then kill $(cat ${pid}) 2>/dev/null || true;`,
    `for i in $(seq 100); do [ -z "$(ss -Hltn 'sport = :${port}')" ] && break; sleep 0.05; done; fi;`,
    `cd ${deployTo}/current; PORT=${port} setsid nohup node server.js >>${deployTo}/app.log 2>&1 </dev/null &`,
    `echo $! > ${pid}`,
  ].join(' ')
}
