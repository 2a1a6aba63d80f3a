// What the script check tests share: plugins written as small sh scripts into a temp dir, a
// runner built the way the checks subsystem builds one, and waiting on a file a plugin writes.
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { CheckNode, CheckResult, CheckRunContext } from '../../agent/checks/check-type.js';
import { isAlive } from '../helpers/agent-process.js';
import { scriptCheckType, type ScriptCheckOptions } from '../../agent/checks/types/script.js';
import type { PluginSpawner } from '../../agent/checks/nagios/plugin-process.js';
import { IN_AGENT_SPAWNER } from '../../agent/checks/nagios/spawn-in-agent.js';

export const NODE: CheckNode = { name: 'node-1', hostname: 'node-1.test', address: '127.0.0.1' };

export const PLUGINS_DIR = '/usr/lib/nagios/plugins';

/** Writes `name` into `dir`: a /bin/sh script running `body`, executable unless `mode` says not. */
export function writePlugin(dir: string, name: string, body: string, mode = 0o755): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, mode);
  return path;
}

/**
 * A plugin in `dir` that starts `sleep 1000` in the background, writes both pids to
 * `<name>.pids` (read them with waitForPids), prints "started" and hangs. `prelude` runs first.
 */
export function hangingPlugin(dir: string, name: string, prelude = ''): { plugin: string; pidFile: string } {
  const pidFile = join(dir, `${name}.pids`);
  const plugin = writePlugin(
    dir,
    name,
    `${prelude}
sleep 1000 &
echo "started"
echo $$ > ${pidFile}.tmp; echo $! >> ${pidFile}.tmp; mv ${pidFile}.tmp ${pidFile}
while :; do sleep 1; done`,
  );
  return { plugin, pidFile };
}

export interface RunOptions extends ScriptCheckOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  node?: CheckNode;
  /** Who starts the plugin (default: the agent itself). */
  spawner?: PluginSpawner;
}

/** Creates a script check from `body` (its `check:` keys) and runs it once. */
export function runCheck(body: Record<string, unknown>, options: RunOptions = {}): Promise<CheckResult> {
  const runner = scriptCheckType(options).create(
    { name: 'test-check', body, packParameters: {} },
    {
      evaluator: {
        evaluate: () => Promise.reject(new Error('a script check evaluates nothing')),
        searchText: () => Promise.reject(new Error('a script check evaluates nothing')),
      },
      nagiosPluginsDir: PLUGINS_DIR,
      pluginSpawner: options.spawner ?? IN_AGENT_SPAWNER,
    },
  );
  const context: CheckRunContext = {
    signal: options.signal ?? new AbortController().signal,
    timeoutMs: options.timeoutMs ?? 10_000,
    node: options.node ?? NODE,
  };
  return runner.run(context);
}

/** Every pid a plugin reported, until killStragglers(): what a failed test may have left running. */
const reportedPids = new Set<number>();

/**
 * SIGKILLs what a plugin reported and is still running: after a test that failed before its
 * plugin was ended (a passing test leaves none). Only those pids, never anything by name.
 */
export function killStragglers(): void {
  for (const pid of reportedPids) {
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  reportedPids.clear();
}

/** The pids a plugin wrote to `path`, one per line, once it has written `count` of them. */
export async function waitForPids(path: string, count: number, timeoutMs = 10_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let pids: number[] = [];
    try {
      pids = readFileSync(path, 'utf8')
        .split('\n')
        .filter((line) => /^\d+$/.test(line))
        .map(Number);
    } catch {
      // Not written yet.
    }
    if (pids.length >= count) {
      for (const pid of pids) reportedPids.add(pid);
      return pids;
    }
    if (Date.now() > deadline) throw new Error(`${path}: ${count} pids not written within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Waits until none of `pids` runs (a zombie counts as gone), failing after `timeoutMs`. A killed
 * process closes its pipes a moment before it is gone: the run may be over just before.
 */
export async function waitUntilGone(pids: readonly number[], timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isAlive)) {
    if (Date.now() > deadline) {
      throw new Error(`still running ${timeoutMs} ms after the run: ${pids.filter(isAlive).join(', ')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
