import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Builds dist/ first when stale: some tests run the compiled service as an operator does.
    globalSetup: ['tests/build-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Each file starts its own in-memory embedded server; two cores, so two forks.
    pool: 'forks',
    maxWorkers: 2,
  },
});
