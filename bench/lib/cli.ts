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

/** The value after `--<name>` (or `--<name>=`), undefined when absent. */
export function stringOption(name: string, argv = process.argv.slice(2)): string | undefined {
  const at = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`))
  if (at === -1) return undefined
  return argv[at]!.includes('=')
    ? argv[at]!.slice(argv[at]!.indexOf('=') + 1)
    : (argv[at + 1] ?? '')
}

/**
 * `--<name> N`: a whole number ≥ `min` (default 0), or `fallback` when absent; anything else
 * throws, naming the option.
 */
export function numberOption<T extends number | undefined>(
  name: string,
  fallback: T,
  { min = 0, argv = process.argv.slice(2) }: { min?: number; argv?: string[] } = {},
): number | T {
  const value = stringOption(name, argv)
  if (value === undefined) return fallback
  const n = Number(value)
  if (value.trim() === '' || !Number.isInteger(n) || n < min) {
    throw new Error(`--${name}: expected a whole number ≥ ${min}; got '${value}'`)
  }
  return n
}

/** `--<name> 1,4,16`: whole numbers ≥ 1 in the order given, or `fallback` when absent. */
export function countsOption(
  name: string,
  fallback: number[],
  argv = process.argv.slice(2),
): number[] {
  const value = stringOption(name, argv)
  if (value === undefined) return fallback
  const counts = value.split(',').map((s) => Number(s.trim()))
  if (counts.length === 0 || counts.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new Error(`--${name}: expected whole numbers ≥ 1 separated by commas; got '${value}'`)
  }
  return counts
}
