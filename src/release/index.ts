/**
 * The runner-side release (DESIGN.md "What one run does", step 2): run `build-command`, then turn
 * `release-path` or `artifact-url` into one .tar.gz with its sha256, ready to ship to every host.
 */
export { foldersMissing } from './archive.js'
export { runBuild } from './build.js'
export { sha256File } from './checksum.js'
export { prepareRelease, RELEASE_FILE } from './prepare.js'
export type { ReleaseArchive, ReleaseInput } from './prepare.js'
