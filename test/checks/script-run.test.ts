// The script check running real processes (sh scripts written by the test): exit codes and
// signals, plugins that cannot run, what a plugin gets (argv, environment, stdin, directory,
// process group), output reading and its caps, and timeouts and aborts that end the whole group.
// Everything twice: plugins started by the agent itself, and by the plugin launcher.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';

import { pluginResult } from '../../agent/checks/nagios/plugin-output.js';
import { launcherBinary, PluginLauncher } from '../../agent/checks/nagios/launcher.js';
import type { PluginSpawner } from '../../agent/checks/nagios/plugin-process.js';
import { runPlugin } from '../../agent/checks/nagios/run-plugin.js';
import { IN_AGENT_SPAWNER } from '../../agent/checks/nagios/spawn-in-agent.js';
import { cleanupAll, isAlive, tempDir } from '../helpers/agent-process.js';
import { describeWhenAvailable } from '../helpers/requirements.js';
import { ManualTimers } from '../helpers/manual-timers.js';
import {
  hangingPlugin,
  killStragglers,
  runCheck,
  waitForPids,
  waitUntilGone,
  writePlugin,
  type RunOptions,
} from './script-fixtures.js';

afterEach(killStragglers);
afterAll(cleanupAll);

const launcher = new PluginLauncher();
afterAll(() => launcher.close());
const launcherMissing = existsSync(launcherBinary())
  ? undefined
  : 'the plugin launcher is not built (a C compiler, then npm run build)';

const SPAWNERS: Array<[string, PluginSpawner, string | undefined]> = [
  ['started by the agent', IN_AGENT_SPAWNER, undefined],
  ['started by the plugin launcher', launcher, launcherMissing],
];

for (const [label, spawner, missing] of SPAWNERS) {
  describeWhenAvailable(`plugins ${label}`, missing, () => {
    // One dir each: the plugins write files under their names (pids) that must not be seen twice.
    const dir = tempDir('opsbro-script-');
    const check = (body: Record<string, unknown>, options: RunOptions = {}) =>
      runCheck(body, { spawner, ...options });

    describe('states', () => {
      it.each([
        [0, 'ok'],
        [1, 'warning'],
        [2, 'critical'],
        [3, 'unknown'],
      ])('exit code %i is %s', async (code, state) => {
        const plugin = writePlugin(dir, `exit-${code}`, `echo "said $1"; exit ${code}`);
        expect(await check({ script: `${plugin} hello` })).toEqual({
          state,
          output: 'said hello',
          perfdata: [],
        });
      });

      it('any other exit code is UNKNOWN, with the code and what the plugin said', async () => {
        const plugin = writePlugin(dir, 'exit-4', 'echo "odd state"; exit 4');
        expect(await check({ script: plugin })).toMatchObject({
          state: 'unknown',
          output: 'exited with code 4: odd state',
        });
      });

      it('a command the shell cannot find is exit code 127, with the shell message from stderr', async () => {
        const result = await check({ script: 'no-such-command-here', shell: true });
        expect(result.state).toBe('unknown');
        expect(result.output).toMatch(/^exited with code 127: .*no-such-command-here.*not found/);
      });

      it('a signal is UNKNOWN, naming it', async () => {
        const plugin = writePlugin(dir, 'segv', 'echo "about to crash"; kill -SEGV $$');
        expect(await check({ script: plugin })).toMatchObject({
          state: 'unknown',
          output: 'killed by SIGSEGV: about to crash',
        });
      });

      it('a missing plugin is UNKNOWN: not found', async () => {
        expect(await check({ script: join(dir, 'check_absent') })).toEqual({
          state: 'unknown',
          output: `cannot run ${join(dir, 'check_absent')}: not found`,
          perfdata: [],
        });
      });

      it('a plugin that is not executable is UNKNOWN: permission denied', async () => {
        const plugin = writePlugin(dir, 'not-executable', 'exit 0', 0o644);
        expect(await check({ script: plugin })).toMatchObject({
          state: 'unknown',
          output: `cannot run ${plugin}: permission denied`,
        });
      });

      it('a program name is looked up in the plugin PATH', async () => {
        expect(await check({ script: 'true' })).toEqual({ state: 'ok', output: '(no output)', perfdata: [] });
        expect((await check({ script: 'false' })).state).toBe('warning');
      });
    });

    describe('what a plugin gets', () => {
      it('its own process group, no stdin, a minimal environment, / as directory', async () => {
        const plugin = writePlugin(
          dir,
          'environment',
          [
            'echo "pgid $(cut -d" " -f5 /proc/$$/stat) pid $$"',
            'echo "stdin $(readlink /proc/$$/fd/0)"',
            'echo "cwd $(pwd)"',
            "tr '\\0' '\\n' < /proc/$$/environ | sort",
          ].join('\n'),
        );
        const result = await check({ script: plugin });
        const [pgid, pid] = /^pgid (\d+) pid (\d+)$/.exec(result.output)!.slice(1);
        expect(pgid).toBe(pid);
        expect(Number(pgid)).not.toBe(process.pid);
        expect(result.longOutput).toBe(
          [
            'stdin /dev/null',
            'cwd /',
            'LANG=C',
            'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
          ].join('\n'),
        );
      });
    });

    describe('output', () => {
      it('reads the first line, the long output and the perfdata of both (the guidelines example)', async () => {
        const plugin = writePlugin(
          dir,
          'disk-example',
          `cat <<'EOF'
DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968
/ 15272 MB (77%);
/boot 68 MB (69%);
/var/log 819 MB (84%); | /boot=68MB;88;93;0;98
/home=69357MB;253404;253409;0;253414
/var/log=818MB;970;975;0;980
EOF`,
        );
        expect(await check({ script: plugin })).toEqual({
          state: 'ok',
          output: 'DISK OK - free space: / 3326 MB (56%);',
          longOutput: '/ 15272 MB (77%);\n/boot 68 MB (69%);\n/var/log 819 MB (84%);',
          perfdata: [
            { label: '/', value: 2643, uom: 'MB', warn: '5948', crit: '5958', min: 0, max: 5968 },
            { label: '/boot', value: 68, uom: 'MB', warn: '88', crit: '93', min: 0, max: 98 },
            { label: '/home', value: 69357, uom: 'MB', warn: '253404', crit: '253409', min: 0, max: 253414 },
            { label: '/var/log', value: 818, uom: 'MB', warn: '970', crit: '975', min: 0, max: 980 },
          ],
        });
      });

      it('skips bad perfdata items and keeps the state', async () => {
        const plugin = writePlugin(
          dir,
          'bad-perfdata',
          `echo "CRITICAL: x | good=1 bad=U worse= 'open=3"; exit 2`,
        );
        expect(await check({ script: plugin })).toEqual({
          state: 'critical',
          output: 'CRITICAL: x',
          perfdata: [{ label: 'good', value: 1, uom: '' }],
        });
      });

      it('shows stderr only when stdout is empty', async () => {
        const both = writePlugin(dir, 'both', 'echo "on stdout"; echo "on stderr" >&2; exit 1');
        expect(await check({ script: both })).toEqual({
          state: 'warning',
          output: 'on stdout',
          perfdata: [],
        });
        const onlyStderr = writePlugin(dir, 'only-stderr', 'printf "first | x=1\\nsecond\\n" >&2; exit 2');
        // stderr is not plugin output: no perfdata read from it, the `|` is text.
        expect(await check({ script: onlyStderr })).toEqual({
          state: 'critical',
          output: 'first | x=1',
          longOutput: 'second',
          perfdata: [],
        });
      });

      it('keeps 4 KiB of stdout, cut at a blank, and says so', async () => {
        // 1000 lines of "line NNN": about 9 KB.
        const plugin = writePlugin(dir, 'long', 'echo "OK | n=1"; seq -f "line %03g" 1 1000');
        const result = await check({ script: plugin });
        expect(result.output).toBe('OK');
        expect(result.perfdata).toEqual([{ label: 'n', value: 1, uom: '' }]);
        const lines = result.longOutput!.split('\n');
        expect(lines.at(-1)).toBe('... (output cut at 4 KiB)');
        // Whole lines only, in order, from the first: "line 001" .. as many as fit in 4096 bytes.
        const kept = lines.slice(0, -1);
        expect(kept[0]).toBe('line 001');
        expect(kept.every((line, index) => line === `line ${String(index + 1).padStart(3, '0')}`)).toBe(true);
        const keptBytes = Buffer.byteLength(`OK | n=1\n${kept.join('\n')}`);
        expect(keptBytes).toBeLessThanOrEqual(4096);
        expect(keptBytes).toBeGreaterThan(4096 - 10);
      });

      it('keeps 1 KiB of stderr', async () => {
        const plugin = writePlugin(dir, 'long-stderr', 'seq -f "err %04g" 1 1000 >&2; exit 2');
        const result = await check({ script: plugin });
        expect(result.output).toBe('err 0001');
        expect(result.longOutput!.split('\n').at(-1)).toBe('... (stderr cut at 1 KiB)');
        expect(Buffer.byteLength(result.longOutput!)).toBeLessThan(1024 + 30);
      });

      it('reads 100 MB of output with bounded memory', async () => {
        const plugin = writePlugin(
          dir,
          'flood',
          'echo "OK flood"; yes "0123456789 abcdefghij" | head -c 104857600',
        );
        const before = process.memoryUsage().arrayBuffers;
        let peakBytes = 0;
        const sample = (): void => {
          peakBytes = Math.max(peakBytes, process.memoryUsage().arrayBuffers - before);
        };
        const sampler = setInterval(sample, 5);
        const outcome = await runPlugin({
          argv: [plugin],
          spawner,
          signal: new AbortController().signal,
          timeoutMs: 60_000,
        });
        sample();
        clearInterval(sampler);
        // All of it was read (the plugin was not cut off), 4 KiB of it kept.
        const printedBytes = 'OK flood\n'.length + 104_857_600;
        expect(outcome).toMatchObject({
          kind: 'exited',
          code: 0,
          stdout: { droppedBytes: printedBytes - 4096 },
        });
        const result = pluginResult(outcome, plugin, 60_000);
        expect(result.state).toBe('ok');
        expect(result.output).toBe('OK flood');
        expect(result.longOutput!.endsWith('\n... (output cut at 4 KiB)')).toBe(true);
        expect(Buffer.byteLength(result.longOutput!)).toBeLessThan(4096 + 30);
        // Keeping what was read would hold all 100 MB. Dropped chunks only wait for the GC, which V8
        // runs when external memory has grown by 64 MiB at most (30 to 40 MB seen here).
        expect(peakBytes).toBeLessThan(80 * 1024 * 1024);
      }, 60_000);
    });

    describe('timeouts and aborts end the whole process group', () => {
      it('kills the plugin and its children at its timeout', async () => {
        const timers = new ManualTimers();
        const { plugin, pidFile } = hangingPlugin(dir, 'hang-timeout');
        const run = check({ script: plugin }, { timers, timeoutMs: 5000 });
        const pids = await waitForPids(pidFile, 2);
        expect(pids.every(isAlive)).toBe(true);
        // The timeout is the run's only timer: firing it sends the SIGTERM; the group's end is real.
        expect(timers.delays).toEqual([5000]);
        timers.advance(5000);
        const result = await run;
        expect(result).toEqual({
          state: 'unknown',
          output: `${plugin} timed out after 5 s: it and its children were killed`,
          longOutput: 'started',
          perfdata: [],
        });
        await waitUntilGone(pids);
      });

      it('kills the plugin and its children when the run is aborted', async () => {
        const { plugin, pidFile } = hangingPlugin(dir, 'hang-abort');
        const abort = new AbortController();
        const run = check({ script: plugin }, { signal: abort.signal });
        const pids = await waitForPids(pidFile, 2);
        abort.abort(new Error('the agent stops'));
        expect(await run).toMatchObject({
          state: 'unknown',
          output: `${plugin} stopped before it finished (the agent stops): it and its children were killed`,
        });
        await waitUntilGone(pids);
      });

      it('kills with SIGKILL, after the grace, what ignores SIGTERM', async () => {
        const timers = new ManualTimers();
        // An ignored signal stays ignored in the children: the background sleep ignores it too.
        const { plugin, pidFile } = hangingPlugin(dir, 'hang-ignore-term', "trap '' TERM");
        const abort = new AbortController();
        const run = check({ script: plugin }, { timers, signal: abort.signal, killGraceMs: 1500 });
        const pids = await waitForPids(pidFile, 2);
        abort.abort(new Error('stop'));
        // The SIGTERM went at the abort (or, through the launcher, once it reported the pid, up to
        // 50 ms after the start), and the SIGKILL waits for its grace, on the test's time.
        await vi.waitFor(() => expect(timers.delays).toEqual([10_000, 1500]));
        timers.advance(1500);
        const result = await run;
        expect(result.output).toContain('stopped before it finished (stop)');
        await waitUntilGone(pids);
      });

      it('ends what a plugin leaves running when it exits', async () => {
        const pidFile = join(dir, 'leftover.pids');
        const plugin = writePlugin(
          dir,
          'leftover',
          `sleep 1000 &\necho $! > ${pidFile}\necho "OK but untidy"`,
        );
        expect(await check({ script: plugin })).toEqual({
          state: 'ok',
          output: 'OK but untidy',
          perfdata: [],
        });
        await waitUntilGone(await waitForPids(pidFile, 1));
      });

      it('does not start a plugin for a run already aborted', async () => {
        const marker = join(dir, 'started-anyway');
        const plugin = writePlugin(dir, 'never', `touch ${marker}`);
        const abort = new AbortController();
        abort.abort(new Error('too late'));
        expect(await check({ script: plugin }, { signal: abort.signal })).toMatchObject({
          state: 'unknown',
          output: `cannot run ${plugin}: the run was stopped first (too late)`,
        });
        expect(existsSync(marker)).toBe(false);
      });
    });
  });
}
