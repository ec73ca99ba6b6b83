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
          // Generous for a loaded 2-core machine (processes start, consumer groups settle); a real hang still fails.
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // One file at a time: the files share one broker and one Redis.
          fileParallelism: false,
        },
      },
    ],
  },
});
