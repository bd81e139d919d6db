// Loaded with `node --import` by test/action-runner.ts (option measureCpu): writes the CPU time
// the action's process used (microseconds: user, system) to $DZD_CPU_FILE when it exits.
import { writeFileSync } from 'node:fs'

process.on('exit', () => {
  const { user, system } = process.cpuUsage()
  writeFileSync(process.env.DZD_CPU_FILE, `${user} ${system}\n`)
})
