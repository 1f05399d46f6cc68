import { defineConfig } from 'vitest/config';

// Two projects, each test in exactly one: `unit` (tests/unit/, pure logic and in-process loopback
// servers, seconds: `npm run test:unit`) and `integration` (everything else: real Docker, Redis, the
// built CLI). `vitest run` (`npm test`) runs both.
export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores: Docker-heavy files run two at a time at most.
    maxWorkers: 2,
    minWorkers: 1,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts'],
          setupFiles: ['tests/unit/setup.ts'],
          // A unit test that waits this long is doing integration work: it fails here.
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['tests/**/*.test.ts'],
          exclude: ['tests/unit/**', '**/node_modules/**'],
        },
      },
    ],
  },
});
