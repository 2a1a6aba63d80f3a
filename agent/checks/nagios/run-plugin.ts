// Runs one plugin process and says what it did, nothing more (plugin-output.ts reads the result).
// The process (started by a spawner: the plugin launcher, or the agent itself) gets its own
// process group, no stdin, a minimal environment and `/` as its directory. Its timeout or the run's
// abort ends the whole group, SIGTERM then SIGKILL after a short grace, so the children a plugin
// started (a pipeline, a `sleep` in the background) die with it; so do the ones it leaves behind
// when it exits. Output is capped while it is read: memory stays bounded whatever the plugin prints.
import { messageOf } from '../../shared/errors.js';
import { SYSTEM_TIMERS, type Timers } from '../../shared/timers.js';
import { invalidArgv, type CappedText, type PluginRun, type PluginSpawner } from './plugin-process.js';
import { IN_AGENT_SPAWNER } from './spawn-in-agent.js';

export type { CappedText } from './plugin-process.js';

/** The plugin guidelines' bound on what is shown of a plugin's output. */
export const STDOUT_LIMIT_BYTES = 4096;
/** stderr only explains a failure (it is shown when stdout is empty): a little is enough. */
export const STDERR_LIMIT_BYTES = 1024;
/** Between SIGTERM and SIGKILL: time for a plugin to clean up, short so a stuck one goes soon. */
export const KILL_GRACE_MS = 2000;

export type PluginOutcome =
  | { kind: 'exited'; code: number; stdout: CappedText; stderr: CappedText }
  | { kind: 'signaled'; signal: string; stdout: CappedText; stderr: CappedText }
  /** It never ran: not found, not executable, a bad argument. */
  | { kind: 'not-started'; reason: string }
  /** Its timeout or the run's abort ended it (and its group). */
  | {
      kind: 'stopped';
      why: 'timeout' | 'aborted';
      /** For an abort: the signal's reason. */
      reason?: string;
      stdout: CappedText;
      stderr: CappedText;
    }
  /** The launcher that ran it died: its group was killed, its result is unknown. */
  | { kind: 'lost'; reason: string };

export interface PluginRunOptions {
  /** argv[0] is the program: a path, or a name looked up in PLUGIN_ENVIRONMENT's PATH. */
  argv: readonly string[];
  timeoutMs: number;
  signal: AbortSignal;
  /** Who starts the process: the agent itself unless told (the agent passes its launcher). */
  spawner?: PluginSpawner;
  timers?: Timers;
  killGraceMs?: number;
  stdoutLimitBytes?: number;
  stderrLimitBytes?: number;
}

/** Runs the plugin to its end (or its timeout, or the abort). Never rejects. */
export function runPlugin(options: PluginRunOptions): Promise<PluginOutcome> {
  const timers = options.timers ?? SYSTEM_TIMERS;
  if (options.signal.aborted) {
    return Promise.resolve(notStarted(`the run was stopped first (${messageOf(options.signal.reason)})`));
  }
  const invalid = invalidArgv(options.argv);
  if (invalid !== undefined) return Promise.resolve(notStarted(invalid));
  return new Promise((resolve) => {
    // Set once the spawner has it; the group's grace timer (later) uses it.
    const started: { run?: PluginRun } = {};
    const group = new ProcessGroup(timers, options.killGraceMs ?? KILL_GRACE_MS, () =>
      started.run?.abandonOutput(),
    );
    let leaderEnd: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let stopped: { why: 'timeout' | 'aborted'; reason?: string } | undefined;
    const stop = (why: 'timeout' | 'aborted', reason?: string): void => {
      // Once the plugin itself has exited, its code stands: only its leftovers are being ended.
      if (leaderEnd) return;
      stopped ??= { why, reason };
      group.terminate();
    };
    const timeout = timers.setTimeout(() => stop('timeout'), options.timeoutMs, true);
    const onAbort = (): void => stop('aborted', messageOf(options.signal.reason));
    options.signal.addEventListener('abort', onAbort, { once: true });

    let settled = false;
    const settle = (outcome: PluginOutcome): void => {
      if (settled) return;
      settled = true;
      timers.clearTimeout(timeout);
      options.signal.removeEventListener('abort', onAbort);
      group.settled();
      resolve(outcome);
    };
    started.run = (options.spawner ?? IN_AGENT_SPAWNER).spawn(
      options.argv,
      {
        stdoutBytes: options.stdoutLimitBytes ?? STDOUT_LIMIT_BYTES,
        stderrBytes: options.stderrLimitBytes ?? STDERR_LIMIT_BYTES,
      },
      {
        started: (pid) => group.attach(pid),
        failed: (reason) => settle(notStarted(reason)),
        // The leader has exited: whatever it left running in its group goes too, so that nothing
        // of the run outlives it and its output pipes close (what `closed` waits for).
        exited: (code, signal, leftovers) => {
          leaderEnd = { code, signal };
          if (leftovers !== false) group.terminate();
        },
        closed: (stdout, stderr) => {
          const streams = { stdout, stderr };
          if (stopped) settle({ kind: 'stopped', ...stopped, ...streams });
          else if (leaderEnd?.signal) settle({ kind: 'signaled', signal: leaderEnd.signal, ...streams });
          else settle({ kind: 'exited', code: leaderEnd?.code ?? 0, ...streams });
        },
        lost: (reason) => {
          group.kill();
          settle({ kind: 'lost', reason });
        },
      },
    );
  });
}

function notStarted(reason: string): PluginOutcome {
  return { kind: 'not-started', reason };
}

/**
 * The plugin's process group (its pid: it runs in a group of its own): ended as a whole, SIGTERM
 * first, SIGKILL after the grace to whatever is still there. Known once the spawner reports the
 * pid: a stop asked before that is carried out then.
 */
class ProcessGroup {
  private pid: number | undefined;
  private graceTimer: unknown;
  private terminateWanted = false;
  private terminating = false;

  constructor(
    private readonly timers: Timers,
    private readonly graceMs: number,
    private readonly abandonOutput: () => void,
  ) {}

  attach(pid: number): void {
    this.pid = pid;
    if (this.terminateWanted) this.terminate();
  }

  terminate(): void {
    this.terminateWanted = true;
    if (this.terminating || this.pid === undefined) return;
    this.terminating = true;
    if (!this.signal('SIGTERM')) return;
    this.graceTimer = this.timers.setTimeout(
      () => {
        this.graceTimer = undefined;
        this.signal('SIGKILL');
        // A process that left the group (setsid) may still hold the pipes: stop waiting for them.
        this.abandonOutput();
      },
      this.graceMs,
      true,
    );
  }

  /** At once, no grace: the run cannot be followed any more. */
  kill(): void {
    if (this.pid !== undefined) this.signal('SIGKILL');
  }

  /** The run is over: the SIGKILL is still due only if some process of the group is left. */
  settled(): void {
    if (this.graceTimer !== undefined && !this.signal(0)) {
      this.timers.clearTimeout(this.graceTimer);
      this.graceTimer = undefined;
    }
  }

  /** Sends `signal` to the group; false when the group is gone. */
  private signal(signal: NodeJS.Signals | 0): boolean {
    try {
      process.kill(-this.pid!, signal);
      return true;
    } catch {
      return false;
    }
  }
}
