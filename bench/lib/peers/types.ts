/** A deploy tool in the peers benchmark. */
export interface Peer {
  /** Row label, e.g. 'Capistrano 3.17.2'. */
  name: string
  /** How it is set up, for the doc. */
  setup: string
  /** Deploys `version` (the first call also sets the host up); the tool's wall time in ms. */
  deploy(version: string): Promise<number>
  /** Port 80 of the host serves the app after the first deploy (adds the nginx site). */
  serve(): Promise<void>
  /** Ends what the tool left running on the runner (not on the host: lab.stop() does that). */
  close?(): Promise<void>
}
