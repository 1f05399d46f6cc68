import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores: Docker-heavy files run two at a time at most.
    maxWorkers: 2,
    minWorkers: 1,
    reporters: ['default'],
  },
});
