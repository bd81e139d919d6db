// Bundles the action into one ES module, dist/index.js, which GitHub runs without node_modules.
// ssh2 is CommonJS and uses require/__dirname, so the banner defines them (see shared notes);
// its optional native add-ons are left out and ssh2 falls back to its pure JS/wasm crypto.
import commonjs from '@rollup/plugin-commonjs'
import json from '@rollup/plugin-json'
import { nodeResolve } from '@rollup/plugin-node-resolve'
import typescript from '@rollup/plugin-typescript'

const banner = `import { createRequire as __createRequire } from 'node:module'
import { fileURLToPath as __fileURLToPath } from 'node:url'
import { dirname as __pathDirname } from 'node:path'
const require = __createRequire(import.meta.url)
const __filename = __fileURLToPath(import.meta.url)
const __dirname = __pathDirname(__filename)`

export default {
  input: 'src/index.ts',
  output: { file: 'dist/index.js', format: 'es', banner, inlineDynamicImports: true },
  plugins: [
    typescript({
      tsconfig: './tsconfig.build.json',
      noEmitOnError: true,
      outDir: 'dist',
      module: 'NodeNext',
    }),
    nodeResolve({ preferBuiltins: true, exportConditions: ['node'] }),
    commonjs({
      ignore: (id) => id === 'cpu-features' || id.endsWith('.node'),
      ignoreDynamicRequires: true,
    }),
    json(),
  ],
  onwarn(warning, warn) {
    // Circular imports and misplaced pure annotations inside dependencies are harmless noise.
    if (['CIRCULAR_DEPENDENCY', 'THIS_IS_UNDEFINED', 'INVALID_ANNOTATION'].includes(warning.code))
      return
    warn(warning)
  },
}
