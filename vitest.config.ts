import { defineConfig } from 'vitest/config';

// Files that run whole clusters of agent processes: timing-sensitive (failure detection, loss),
// so they run one at a time, after everything else, instead of competing for the two cores.
const clusterTests = [
  'test/gossip/cluster.test.ts',
  'test/gossip/security.test.ts',
  'test/gossip/loss.test.ts',
  'test/gossip/detect-netns.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: clusterTests,
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: { name: 'cluster', include: clusterTests, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
