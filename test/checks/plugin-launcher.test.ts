// The plugin launcher's own duties, beyond what script-run.test.ts checks of every spawner: many
// runs at once keep their outputs apart, nothing of the agent's pipes reaches a plugin, an argument
// cannot be split by a NUL, a launcher that dies loses its runs (their groups killed) and is
// replaced, and an agent that closes it or dies takes every running plugin down with it.
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';

import {
  DEATHS_BEFORE_FALLBACK,
  DEATHS_WINDOW_MS,
  launcherBinary,
  PluginLauncher,
  pluginSpawner,
} from '../../agent/checks/nagios/launcher.js';
import { pluginResult } from '../../agent/checks/nagios/plugin-output.js';
import { runPlugin, type PluginOutcome } from '../../agent/checks/nagios/run-plugin.js';
import { IN_AGENT_SPAWNER } from '../../agent/checks/nagios/spawn-in-agent.js';
import { packageRoot } from '../../agent/shared/paths.js';
import { cleanupAll, isAlive, tempDir } from '../helpers/agent-process.js';
import { describeWhenAvailable } from '../helpers/requirements.js';
import {
  hangingPlugin,
  killStragglers,
  runCheck,
  waitForPids,
  waitUntilGone,
  writePlugin,
} from './script-fixtures.js';

const dir = tempDir('opsbro-launcher-');
afterEach(killStragglers);
afterAll(cleanupAll);

const launchers: PluginLauncher[] = [];
afterAll(() => Promise.all(launchers.map((launcher) => launcher.close())));
function newLauncher(): PluginLauncher {
  const launcher = new PluginLauncher();
  launchers.push(launcher);
  return launcher;
}

function run(
  launcher: PluginLauncher,
  argv: string[],
  signal = new AbortController().signal,
): Promise<PluginOutcome> {
  return runPlugin({ argv, spawner: launcher, signal, timeoutMs: 30_000 });
}

const missing = existsSync(launcherBinary())
  ? undefined
  : 'the plugin launcher is not built (a C compiler, then npm run build)';

describeWhenAvailable('the plugin launcher', missing, () => {
  it('runs 300 plugins at once, each with its own output and exit code', async () => {
    const launcher = newLauncher();
    const plugin = writePlugin(dir, 'echo-back', 'seq -f "$1 line %g" 1 50; exit $(( $1 % 4 ))');
    const outcomes = await Promise.all(
      Array.from({ length: 300 }, (_, index) => run(launcher, [plugin, String(index)])),
    );
    outcomes.forEach((outcome, index) => {
      expect(outcome).toMatchObject({ kind: 'exited', code: index % 4 });
      const lines = outcome.kind === 'exited' ? outcome.stdout.text.trimEnd().split('\n') : [];
      expect(lines).toHaveLength(50);
      expect(lines.every((line, at) => line === `${index} line ${at + 1}`)).toBe(true);
    });
  });

  it('gives a plugin stdin, stdout and stderr only: none of its own or the agent\u2019s pipes', async () => {
    // `ls` itself, so that the shell's own descriptors (its script file) are not counted.
    const plugin = writePlugin(dir, 'fds', 'exec ls -1 /proc/self/fd');
    const outcome = await run(newLauncher(), [plugin]);
    // 0-2, and the descriptor `ls` opened to read the directory (3) at most.
    expect(outcome).toMatchObject({ kind: 'exited', code: 0 });
    const fds = outcome.kind === 'exited' ? outcome.stdout.text.trim().split('\n').map(Number) : [];
    expect(fds.slice(0, 3)).toEqual([0, 1, 2]);
    expect(fds.length).toBeLessThanOrEqual(4);
  });

  it('refuses an argument holding a NUL byte, which would split into two arguments', async () => {
    const received = join(dir, 'nul-args');
    const plugin = writePlugin(dir, 'count-args', `echo "$#" > ${received}`);
    for (const spawner of [newLauncher(), IN_AGENT_SPAWNER]) {
      const outcome = await runPlugin({
        argv: [plugin, 'one\0two'],
        spawner,
        signal: new AbortController().signal,
        timeoutMs: 10_000,
      });
      expect(outcome).toEqual({ kind: 'not-started', reason: 'argument 1 holds a NUL byte' });
    }
    expect(existsSync(received)).toBe(false);
  });

  it('runs a script without a #! line under /bin/sh', async () => {
    const plugin = join(dir, 'no-shebang');
    writeFileSync(plugin, 'echo "OK from sh $1"\n', { mode: 0o755 });
    expect(await run(newLauncher(), [plugin, 'arg'])).toMatchObject({
      kind: 'exited',
      code: 0,
      stdout: { text: 'OK from sh arg\n' },
    });
  });

  it('a launcher killed mid-run loses its runs, kills their groups, and is replaced at the next run', async () => {
    const launcher = newLauncher();
    const { plugin, pidFile } = hangingPlugin(dir, 'hang-lost');
    const outcome = run(launcher, [plugin]);
    const pids = await waitForPids(pidFile, 2);
    // The launcher reports a pid once a run has gone on for 50 ms: only then can the agent end it.
    await vi.waitFor(() => expect(launcher.runsWithPid).toBe(1));
    const firstLauncher = launcher.pid!;
    process.kill(firstLauncher, 'SIGKILL');
    const lost = await outcome;
    expect(lost).toEqual({ kind: 'lost', reason: 'the plugin launcher was killed by SIGKILL' });
    expect(pluginResult(lost, plugin, 30_000)).toMatchObject({
      state: 'unknown',
      output: `lost track of ${plugin} (it was killed): the plugin launcher was killed by SIGKILL`,
    });
    await waitUntilGone(pids);

    expect(await run(launcher, ['true'])).toMatchObject({ kind: 'exited', code: 0 });
    expect(launcher.pid).not.toBe(firstLauncher);
  });

  it('closing the launcher kills the plugins still running; the runs are lost', async () => {
    const launcher = new PluginLauncher();
    const { plugin, pidFile } = hangingPlugin(dir, 'hang-close');
    const outcome = run(launcher, [plugin]);
    const pids = await waitForPids(pidFile, 2);
    const launcherPid = launcher.pid!;
    await launcher.close();
    expect(await outcome).toMatchObject({ kind: 'lost' });
    expect(isAlive(launcherPid)).toBe(false);
    await waitUntilGone(pids);
  });

  it('an agent that dies (SIGKILL) takes the launcher and every running plugin with it', async () => {
    const { plugin, pidFile } = hangingPlugin(dir, 'hang-agent-dies');
    // A Node process standing for the agent: it starts a plugin through its launcher, prints the
    // launcher's pid, and waits to be killed.
    // The built modules (npm test builds dist/ first), as the agent runs them.
    const built = (module: string): string =>
      JSON.stringify(pathToFileURL(join(packageRoot(), 'dist', 'agent', 'checks', 'nagios', module)).href);
    const script = `
      import { PluginLauncher } from ${built('launcher.js')};
      import { runPlugin } from ${built('run-plugin.js')};
      const launcher = new PluginLauncher({ binary: ${JSON.stringify(launcherBinary())} });
      void runPlugin({ argv: [${JSON.stringify(plugin)}], spawner: launcher, signal: new AbortController().signal, timeoutMs: 600000 });
      setInterval(() => { if (launcher.pid) console.log(launcher.pid); }, 20);
    `;
    const agent = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const launcherPid = await new Promise<number>((resolve, reject) => {
        agent.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().split('\n')[0])));
        agent.once('exit', (code) => reject(new Error(`the stand-in agent exited (${code})`)));
      });
      const pids = await waitForPids(pidFile, 2);
      expect([launcherPid, ...pids].every(isAlive)).toBe(true);
      agent.kill('SIGKILL');
      await waitUntilGone([launcherPid, ...pids]);
    } finally {
      agent.kill('SIGKILL');
    }
  });

  it('sends the results of runs started together in one write; a run still going holds them 20 ms at most', async () => {
    // The launcher spoken to as the agent does, frame by frame, so that its writes can be counted.
    // First with a hold of a minute, so that how fast the plugins run cannot split their results.
    const quick = writePlugin(dir, 'quick', 'echo "OK $1"');
    const patient = rawLauncher(['--hold-ms', '60000']);
    try {
      patient.send([1, 2, 3, 4, 5, 6, 7, 8].map((id) => runFrame(id, [quick, String(id)])));
      await vi.waitFor(() => expect(patient.closedIds()).toHaveLength(8));
      // Held while any of them ran, and sent in one write once the last one closed.
      expect(patient.chunks).toHaveLength(1);
    } finally {
      await patient.close();
    }

    // With the agent's hold: a run that goes on does not hold the others' results for long.
    const launcher = rawLauncher([]);
    try {
      const { plugin: hanging, pidFile } = hangingPlugin(dir, 'hang-hold');
      launcher.send([runFrame(20, [hanging]), runFrame(21, [quick, '21'])]);
      await vi.waitFor(() => expect(launcher.closedIds()).toEqual([21]));
      const pids = await waitForPids(pidFile, 2);
      expect(pids.every(isAlive)).toBe(true);
    } finally {
      await launcher.close(); // it kills what still runs and exits
    }
  });

  it('the agent runs plugins itself when the launcher is not built, or not wanted', () => {
    const warnings: string[] = [];
    const logger = { warn: (message: string) => void warnings.push(message), error: () => {} };
    expect(pluginSpawner(true, logger, join(dir, 'no-launcher-here'))).toBe(IN_AGENT_SPAWNER);
    expect(warnings).toEqual([expect.stringContaining('the plugin launcher is not built')]);
    expect(pluginSpawner(false, logger)).toBe(IN_AGENT_SPAWNER);
    const launcher = pluginSpawner(true, logger);
    expect(launcher).toBeInstanceOf(PluginLauncher);
    expect(warnings).toHaveLength(1);
  });

  it('a script check runs through it as through the agent', async () => {
    const plugin = writePlugin(dir, 'parent', 'echo "OK parent $(cat /proc/$PPID/comm)"');
    expect(await runCheck({ script: plugin }, { spawner: newLauncher() })).toMatchObject({
      state: 'ok',
      output: 'OK parent opsbro-plugin-l',
    });
  });
});

/** The launcher binary on raw pipes: requests sent in one write, what it writes kept chunk by chunk. */
function rawLauncher(args: string[]) {
  const child = spawn(launcherBinary(), args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  return {
    chunks,
    send: (frames: Buffer[]) => child.stdin.write(Buffer.concat(frames)),
    closedIds: () =>
      eventsOf(Buffer.concat(chunks))
        .filter((event) => event.type === 4)
        .map((event) => event.id),
    close: async () => {
      const closed = new Promise((resolve) => child.once('close', resolve));
      child.stdin.end();
      await closed;
    },
  };
}

/** A RUN request (the protocol at the top of opsbro-plugin-launcher.c), 4 KiB of output kept. */
function runFrame(id: number, argv: string[]): Buffer {
  const strings = Buffer.concat(argv.map((argument) => Buffer.from(argument + '\0')));
  const head = Buffer.alloc(4 + 1 + 4 + 12);
  head.writeUInt32LE(1 + 4 + 12 + strings.length, 0);
  head.writeUInt8(1, 4);
  head.writeUInt32LE(id, 5);
  head.writeUInt32LE(4096, 9);
  head.writeUInt32LE(1024, 13);
  head.writeUInt32LE(argv.length, 17);
  return Buffer.concat([head, strings]);
}

/** The events in what the launcher wrote: type and run id of each frame. */
function eventsOf(bytes: Buffer): Array<{ type: number; id: number }> {
  const events: Array<{ type: number; id: number }> = [];
  for (let offset = 0; offset + 4 <= bytes.length;) {
    const length = bytes.readUInt32LE(offset);
    if (offset + 4 + length > bytes.length) break;
    events.push({ type: bytes[offset + 4]!, id: bytes.readUInt32LE(offset + 5) });
    offset += 4 + length;
  }
  return events;
}

describe('a launcher that keeps dying', () => {
  it(`is given up after ${DEATHS_BEFORE_FALLBACK} deaths within a minute: plugins then start from the agent`, async () => {
    // A "launcher" that exits at once: every run it was given is lost.
    const broken = writePlugin(dir, 'broken-launcher', 'exit 3');
    const errors: string[] = [];
    const logger = { warn: () => {}, error: (message: string) => void errors.push(message) };
    const launcher = new PluginLauncher({ binary: broken, logger });
    launchers.push(launcher);
    for (let death = 1; death <= DEATHS_BEFORE_FALLBACK; death++) {
      expect(await run(launcher, ['true'])).toEqual({
        kind: 'lost',
        reason: 'the plugin launcher exited (3)',
      });
    }
    expect(launcher.inAgent).toBe(true);
    expect(errors).toEqual([
      expect.stringContaining(`the plugin launcher died ${DEATHS_BEFORE_FALLBACK} times`),
    ]);
    // Checks go on running.
    expect(await run(launcher, ['true'])).toMatchObject({ kind: 'exited', code: 0 });
    expect(launcher.pid).toBeUndefined();
  });

  it('counts only the deaths of the last minute', async () => {
    const broken = writePlugin(dir, 'broken-launcher-2', 'exit 3');
    let clock = 0;
    const launcher = new PluginLauncher({ binary: broken, now: () => clock });
    launchers.push(launcher);
    const die = async () => expect(await run(launcher, ['true'])).toMatchObject({ kind: 'lost' });
    for (let death = 1; death < DEATHS_BEFORE_FALLBACK; death++) await die();
    clock += DEATHS_WINDOW_MS + 1000;
    // The earlier deaths are over a minute old: this one is the first of a new minute.
    await die();
    expect(launcher.inAgent).toBe(false);
  });
});
