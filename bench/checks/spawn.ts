// bench:spawn: what one plugin run costs by each way of starting it, from this (bare) Node process:
// the agent's own `spawn` (spawn-in-agent.ts) and the plugin launcher (launcher.ts). N runs of
// `check_dummy 0 ok` one after the other (BENCH_RUNS, default 3,000; BENCH_CONCURRENCY runs at once,
// default 1), through runPlugin as a script check runs them. CPU per run: this process (getrusage),
// the launcher (/proc/<pid>/stat), and the plugins (the children's times of whoever reaped them).
//
//   npm run bench:spawn            (needs monitoring-plugins-basic and a built launcher)
import { existsSync, readFileSync } from 'node:fs';
import { launcherBinary, PluginLauncher } from '../../agent/checks/nagios/launcher.js';
import type { PluginSpawner } from '../../agent/checks/nagios/plugin-process.js';
import { runPlugin } from '../../agent/checks/nagios/run-plugin.js';
import { IN_AGENT_SPAWNER } from '../../agent/checks/nagios/spawn-in-agent.js';
import { positiveEnv } from '../lib/env.js';

const PLUGIN = '/usr/lib/nagios/plugins/check_dummy';
const CLOCK_TICK_MS = 10;

/** utime+stime and cutime+cstime of a process, in ms (clock ticks: exact enough over N runs). */
function times(pid: number): { own: number; children: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const at = (index: number) => Number(fields[index]) * CLOCK_TICK_MS;
  return { own: at(11) + at(12), children: at(13) + at(14) };
}

interface Figures {
  agentMs: number;
  launcherMs: number;
  pluginMs: number;
}

async function measure(
  spawner: PluginSpawner,
  launcherPid: () => number | undefined,
  runs: number,
  concurrency: number,
): Promise<Figures> {
  const one = () =>
    runPlugin({
      argv: [PLUGIN, '0', 'ok'],
      timeoutMs: 10_000,
      signal: new AbortController().signal,
      spawner,
    });
  await one(); // the launcher started, caches warm
  const pid = launcherPid();
  const launcherBefore = pid ? times(pid) : { own: 0, children: 0 };
  const selfBefore = times(process.pid);
  const cpuBefore = process.cpuUsage();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < runs) await one();
    }),
  );
  const cpu = process.cpuUsage(cpuBefore);
  const self = times(process.pid);
  const launcher = pid ? times(pid) : { own: 0, children: 0 };
  return {
    agentMs: (cpu.user + cpu.system) / 1000 / runs,
    launcherMs: (launcher.own - launcherBefore.own) / runs,
    pluginMs: (self.children - selfBefore.children + launcher.children - launcherBefore.children) / runs,
  };
}

async function main(): Promise<void> {
  if (!existsSync(PLUGIN)) throw new Error(`${PLUGIN} is missing (apt-get install monitoring-plugins-basic)`);
  if (!existsSync(launcherBinary()))
    throw new Error('the plugin launcher is not built (a C compiler, then npm run build)');
  const runs = positiveEnv('BENCH_RUNS', 3000, true);
  const concurrency = positiveEnv('BENCH_CONCURRENCY', 1, true);
  const launcher = new PluginLauncher();
  const rows: Array<[string, Figures]> = [
    ['the agent (spawn)', await measure(IN_AGENT_SPAWNER, () => undefined, runs, concurrency)],
    ['the launcher', await measure(launcher, () => launcher.pid, runs, concurrency)],
  ];
  await launcher.close();
  const ms = (value: number) => `${value.toFixed(2)} ms`.padStart(10);
  console.log(
    `${runs} runs of check_dummy 0 ok, ${concurrency} at once, from a bare Node ${process.version}, CPU per run`,
  );
  console.log(
    `${'started by'.padEnd(20)}${'agent'.padStart(10)}${'launcher'.padStart(10)}${'plugin'.padStart(10)}${'total'.padStart(10)}`,
  );
  for (const [label, f] of rows)
    console.log(
      `${label.padEnd(20)}${ms(f.agentMs)}${ms(f.launcherMs)}${ms(f.pluginMs)}${ms(f.agentMs + f.launcherMs + f.pluginMs)}`,
    );
  console.log(
    JSON.stringify({
      bench: 'spawn',
      runs,
      concurrency,
      node: process.version,
      rows: Object.fromEntries(rows),
    }),
  );
}

main().catch((error: unknown) => {
  console.error(`bench:spawn failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
