import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['__tests__/**/*.test.ts'],
    globalSetup: ['__tests__/global-setup.ts'],
    setupFiles: ['__tests__/setup-file.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
})
