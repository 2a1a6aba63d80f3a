// `agent start --daemon`: the foreground process re-runs itself detached and waits until the child
// reports ready (or why it failed) over an IPC channel, so the operator gets a real exit status.
import { spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export const DAEMON_CHILD_ENV = 'OPSBRO_DAEMON_CHILD';

/** Messages the detached child sends to the process that launched it. */
export type DaemonMessage = { type: 'ready'; pid: number } | { type: 'failed'; error: string };

/** Read once and removed, so processes the agent starts later (plugins) do not inherit it. */
const launchedAsDaemon = process.env[DAEMON_CHILD_ENV] === '1';
delete process.env[DAEMON_CHILD_ENV];

export function isDaemonChild(): boolean {
  return launchedAsDaemon && typeof process.send === 'function';
}

/** In the child: tell the launcher how the start went, then let it go. */
export function reportToLauncher(message: DaemonMessage): void {
  if (!isDaemonChild()) return;
  process.send!(message, () => process.disconnect?.());
}

export interface DaemonLaunch {
  /** argv for `opsbro agent start` in the child, without --daemon. */
  args: string[];
  logFile: string;
  timeoutMs?: number;
}

export async function launchDaemon(launch: DaemonLaunch): Promise<DaemonMessage> {
  mkdirSync(dirname(launch.logFile), { recursive: true, mode: 0o700 });
  // Anything the child prints outside the logger (a Node fatal error) lands here, not in the void.
  const stderr = openSync(join(dirname(launch.logFile), 'opsbro.stderr'), 'a', 0o600);
  const child = spawn(process.execPath, [resolve(process.argv[1]!), ...launch.args], {
    detached: true,
    // Off the caller's directory, so a daemon never keeps a mount busy.
    cwd: '/',
    stdio: ['ignore', 'ignore', stderr, 'ipc'],
    env: { ...process.env, [DAEMON_CHILD_ENV]: '1' },
  });
  const timeoutMs = launch.timeoutMs ?? 30_000;
  const outcome = await new Promise<DaemonMessage>((resolve) => {
    const timer = setTimeout(() => {
      // Reporting failure while leaving it to come up later would lie: stop it.
      child.kill('SIGTERM');
      resolve({
        type: 'failed',
        error: `the agent did not report ready within ${timeoutMs / 1000} s, stopped it; see ${launch.logFile}`,
      });
    }, timeoutMs);
    child.once('message', (message: DaemonMessage) => {
      clearTimeout(timer);
      resolve(message);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({
        type: 'failed',
        error: `the agent exited during start (${signal ?? `exit code ${code}`}); see ${launch.logFile}`,
      });
    });
  });
  child.removeAllListeners();
  if (child.connected) child.disconnect();
  child.unref();
  return outcome;
}
