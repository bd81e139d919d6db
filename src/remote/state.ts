/**
 * `.deploy/state.json` on each host: both slots, the live one and the release history. Parsed
 * strictly: a corrupt file stops the run with an explanation instead of being guessed at.
 */
import { z } from 'zod'

export const SLOTS = ['blue', 'green'] as const
export type Slot = (typeof SLOTS)[number]

export function otherSlot(slot: Slot): Slot {
  return slot === 'blue' ? 'green' : 'blue'
}

/**
 * A worker process of a release (`worker-command`): `worker-<name>-<generation>`. The workers of
 * two releases run side by side for a moment, as the web slots do, so they alternate between two
 * generations, blue and green, like the slots (but on their own: a worker host has no slot).
 */
export type WorkerId = `worker-${string}`
/** What a host supervises: a web slot, or a worker. */
export type ProcessId = Slot | WorkerId

export const workerId = (name: string, generation: Slot): WorkerId => `worker-${name}-${generation}`

export const isSlot = (id: ProcessId): id is Slot => id === 'blue' || id === 'green'

const slotState = z.object({
  version: z.string(),
  port: z.number().int(),
  pid: z.number().int().nullable(),
  startedAt: z.string(),
  /**
   * Where the slot's processes run from when not releases/<version> (absent): `current` for a
   * slot the reload strategy started, so that a reload there loads the new release. Optional, so
   * the schema version stays and older readers still parse the file.
   */
  workdir: z.string().optional(),
})

/**
 * The commands a release was deployed with, so that a rollback starts (and stops) it the way it
 * ran, not with today's inputs. '' = not set (stop: SIGTERM; reload: none).
 */
const releaseCommands = z.object({
  start: z.string(),
  stop: z.string(),
  reload: z.string(),
  /** `worker-command` as `name: command` pairs; absent in entries written before workers. */
  workers: z.array(z.object({ name: z.string(), command: z.string() })).optional(),
  /** `worker-stop-command` ('' = SIGTERM); absent: ''. */
  workerStop: z.string().optional(),
})

const release = z.object({
  version: z.string(),
  sha256: z.string(),
  slot: z.enum(SLOTS),
  deployedAt: z.string(),
  /** Absent in entries written before the commands were recorded. */
  commands: releaseCommands.optional(),
  /**
   * `asset-path`: the folders whose files stay served across versions, so that a rollback to it
   * bridges the same ones. Absent: none. Optional, so schema 1 stays.
   */
  assets: z.array(z.string()).optional(),
})

/** The workers that run on a host: the generation they run in, their release and names. */
const workersState = z.object({
  generation: z.enum(SLOTS),
  version: z.string(),
  names: z.array(z.string()),
})

const hostState = z.object({
  schema: z.literal(1),
  liveSlot: z.enum(SLOTS).nullable(),
  slots: z.object({ blue: slotState.nullable(), green: slotState.nullable() }),
  /** Newest first. */
  history: z.array(release),
  /** The live release's workers; absent (or null) where none run. Optional: schema 1 stays. */
  workers: workersState.nullable().optional(),
  /**
   * Versions that served traffic in a run that then switched back for another reason than a
   * verdict on them (a rolling rollback, say): not in the history, since nothing may roll back to
   * them, but they went live, so they never change. Optional: schema 1 stays.
   */
  switchedBack: z.array(z.string()).optional(),
})

export type SlotState = z.infer<typeof slotState>
export type WorkersState = z.infer<typeof workersState>
export type ReleaseCommands = z.infer<typeof releaseCommands>
export type ReleaseRecord = z.infer<typeof release>
export type HostState = z.infer<typeof hostState>

/** The state of a host that was never deployed to. */
export const EMPTY_STATE: HostState = {
  schema: 1,
  liveSlot: null,
  slots: { blue: null, green: null },
  history: [],
}

/** Parses state.json text; undefined (no file) is a fresh host. Throws an explanation if corrupt. */
export function parseState(text: string | undefined, path: string): HostState {
  if (text === undefined) return EMPTY_STATE
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new Error(corrupt(path, `not valid JSON (${(error as Error).message})`), {
      cause: error,
    })
  }
  const parsed = hostState.safeParse(json)
  if (!parsed.success) {
    const where = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    throw new Error(corrupt(path, where.join('; ')))
  }
  return parsed.data
}

function corrupt(path: string, reason: string): string {
  return (
    `${path} is corrupt: ${reason}. Nothing was changed. Repair or restore the file ` +
    `(a copy of the last good one is ${path}.bak), or remove it to treat the host as new ` +
    `(the running slots are then not known to the action).`
  )
}
