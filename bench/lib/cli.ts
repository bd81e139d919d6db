/** Command line of the benchmarks: `--only a,b` picks scenarios by name. */

/** The names after `--only` (or `--only=`), or all of `known` when absent; unknown names throw. */
export function selected<T extends string>(known: readonly T[], argv = process.argv.slice(2)): T[] {
  const at = argv.findIndex((a) => a === '--only' || a.startsWith('--only='))
  if (at === -1) return [...known]
  const value = argv[at]!.includes('=') ? argv[at]!.split('=')[1]! : (argv[at + 1] ?? '')
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  const unknown = names.filter((n) => !known.includes(n as T))
  if (names.length === 0 || unknown.length > 0) {
    throw new Error(`--only: expected some of ${known.join(', ')}; got '${value}'`)
  }
  return known.filter((k) => names.includes(k))
}

/** Root check shared by every benchmark that starts throwaway hosts. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0)
    throw new Error('this benchmark starts throwaway hosts: run it as root')
}
