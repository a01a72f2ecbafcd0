import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Two cores: end-to-end files start several TLS servers each.
    maxWorkers: 2,
    pool: 'forks',
    // A stray `.only` fails the run, locally as on CI (Vitest's default allows it unless CI is set).
    allowOnly: false,
  },
});
