// What the service check tests share: dependencies for a type that evaluates nothing and spawns
// nothing, and one run of a runner with a deadline.
import type { CheckDependencies, CheckResult, CheckRunner } from '../../agent/checks/check-type.js';
import { IN_AGENT_SPAWNER } from '../../agent/checks/nagios/spawn-in-agent.js';

export const SERVICE_DEPENDENCIES: CheckDependencies = {
  evaluator: {
    evaluate: () => Promise.reject(new Error('not used')),
    searchText: () => Promise.reject(new Error('not used')),
  },
  nagiosPluginsDir: '/usr/lib/nagios/plugins',
  pluginSpawner: IN_AGENT_SPAWNER,
};

export function runService(runner: CheckRunner, timeoutMs = 5_000): Promise<CheckResult> {
  return runner.run({
    signal: AbortSignal.timeout(timeoutMs),
    timeoutMs,
    node: { name: 'n', hostname: 'n', address: '127.0.0.1' },
  });
}
