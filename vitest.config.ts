import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['protocol/**/*.test.ts', 'host/**/*.test.ts', 'host/**/*.test.tsx', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // End-to-end tests start simulator processes on pseudo-terminals; keep them from
    // competing for the two cores CI has.
    maxWorkers: 2,
  },
});
