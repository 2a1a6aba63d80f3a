import { defineConfig } from 'vitest/config';

// Files that run whole clusters (agent processes, or in-process engines on fast timings):
// timing-sensitive (failure detection, loss), so they run one at a time, after everything else,
// instead of competing for the two cores with the unit files (which now start real redis, nginx,
// mariadb and rabbitmq servers).
const clusterTests = [
  'test/gossip/engine.test.ts',
  'test/gossip/cluster.test.ts',
  'test/gossip/security.test.ts',
  'test/gossip/loss.test.ts',
  'test/gossip/detect-netns.test.ts',
  'test/gossip/keyring-sync.test.ts',
  'test/gossip/key-rotation-crash.test.ts',
  'test/gossip/shutdown.test.ts',
  'test/security/fuzz-listeners.test.ts',
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
