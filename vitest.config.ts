import { defineConfig } from 'vitest/config'

/**
 * Two projects: `unit` (pure logic, no root, no build, no lab: `npm run test:unit`, seconds) and
 * `e2e` (integration, end-to-end and fault tests against lab hosts and the built bundle:
 * `npm run test:e2e`). `npm test` runs both.
 *
 * The root's global setup (the run's own temp dir, and the check that nothing is left in it or
 * of a lab at the end) runs once for every run, whichever projects it selects; the e2e project's
 * own global setup installs the lab packages and builds dist/index.js.
 */
const shared = {
  setupFiles: ['__tests__/setup-file.ts'],
  testTimeout: 60_000,
  hookTimeout: 120_000,
}

export default defineConfig({
  test: {
    globalSetup: ['__tests__/global-setup.ts'],
    projects: [
      {
        test: { ...shared, name: 'unit', include: ['__tests__/unit/**/*.test.ts'] },
      },
      {
        test: {
          ...shared,
          name: 'e2e',
          include: [
            '__tests__/integration/**/*.test.ts',
            '__tests__/e2e/**/*.test.ts',
            '__tests__/faults/**/*.test.ts',
          ],
          globalSetup: ['__tests__/build-setup.ts'],
        },
      },
    ],
  },
})
