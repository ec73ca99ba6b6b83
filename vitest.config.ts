import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/harness/global-setup.ts'],
          // Consumer-group joins on the mock broker take 3-40 s; a real hang still fails.
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // One file at a time: the files share one broker and one Redis.
          fileParallelism: false,
        },
      },
    ],
  },
});
