import { defineConfig } from 'vitest/config';

// Files that run whole clusters of agent processes: timing-sensitive (failure detection, loss), so
// they run one at a time, after everything else, instead of competing for the two cores with the
// unit files (which start real redis, nginx, mariadb and rabbitmq servers). The in-process engine
// tests are not among them: they run on manual time (test/gossip/memory-cluster.ts), which a busy
// machine cannot make late.
const clusterTests = [
  'test/gossip/cluster.test.ts',
  'test/gossip/security.test.ts',
  'test/gossip/loss.test.ts',
  'test/gossip/detect-netns.test.ts',
  'test/gossip/keyring-sync.test.ts',
  'test/gossip/key-rotation-crash.test.ts',
  'test/gossip/shutdown.test.ts',
  'test/gossip/push-pull-agents.test.ts',
  'test/security/fuzz-listeners.test.ts',
  'test/gossip/checks-cluster.test.ts',
  'test/checks/cluster-visibility.test.ts',
  // The KV store on 3 to 6 agents; the chaos test SIGKILLs and restarts one every 4 s for ~4 min.
  'test/kv/cluster.test.ts',
  'test/kv/chaos.test.ts',
  'test/kv/consul-api.test.ts',
  // Metrics queries over 3 agents.
  'test/metrics/cluster.test.ts',
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
