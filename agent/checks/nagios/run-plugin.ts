// Runs one plugin process and says what it did, nothing more (plugin-output.ts reads the result).
// The process gets its own process group (detached), no stdin, a minimal environment and `/` as
// its directory. Its timeout or the run's abort ends the whole group, SIGTERM then SIGKILL after a
// short grace, so the children a plugin started (a pipeline, a `sleep` in the background) die with
// it; so do the ones it leaves behind when it exits. Output is capped while it is read: memory stays
// bounded whatever the plugin prints.
import { spawn, type ChildProcess } from 'node:child_process';
import { messageOf } from '../../shared/errors.js';
import { SYSTEM_TIMERS, type Timers } from '../../shared/timers.js';

/**
 * The environment every plugin gets, and nothing of the agent's: a fixed PATH (the agent's own may
 * name anything) and the C locale, so plugins print numbers with a `.` (the perfdata format).
 */
export const PLUGIN_ENVIRONMENT: Readonly<Record<string, string>> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  LANG: 'C',
};

/** The plugin guidelines' bound on what is shown of a plugin's output. */
export const STDOUT_LIMIT_BYTES = 4096;
/** stderr only explains a failure (it is shown when stdout is empty): a little is enough. */
export const STDERR_LIMIT_BYTES = 1024;
/** Between SIGTERM and SIGKILL: time for a plugin to clean up, short so a stuck one goes soon. */
export const KILL_GRACE_MS = 2000;

/** What was kept of one output stream. */
export interface CappedText {
  text: string;
  /** Bytes read past the limit and dropped (0 when all was kept). */
  droppedBytes: number;
  limitBytes: number;
}

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
    };

export interface PluginRunOptions {
  /** argv[0] is the program: a path, or a name looked up in PLUGIN_ENVIRONMENT's PATH. */
  argv: readonly string[];
  timeoutMs: number;
  signal: AbortSignal;
  timers?: Timers;
  killGraceMs?: number;
  stdoutLimitBytes?: number;
  stderrLimitBytes?: number;
}

/** Runs the plugin to its end (or its timeout, or the abort). Never rejects. */
export function runPlugin(options: PluginRunOptions): Promise<PluginOutcome> {
  const timers = options.timers ?? SYSTEM_TIMERS;
  const [program = '', ...args] = options.argv;
  if (options.signal.aborted) {
    return Promise.resolve(notStarted(`the run was stopped first (${messageOf(options.signal.reason)})`));
  }
  let child: ChildProcess;
  try {
    child = spawn(program, args, {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: PLUGIN_ENVIRONMENT,
      cwd: '/',
    });
  } catch (error) {
    // Synchronous refusals: an argument with a NUL byte, an empty program name.
    return Promise.resolve(notStarted(messageOf(error)));
  }
  return new Promise((resolve) => {
    const stdout = new OutputCap(options.stdoutLimitBytes ?? STDOUT_LIMIT_BYTES);
    const stderr = new OutputCap(options.stderrLimitBytes ?? STDERR_LIMIT_BYTES);
    child.stdout!.on('data', (chunk: Buffer) => stdout.add(chunk));
    child.stderr!.on('data', (chunk: Buffer) => stderr.add(chunk));
    const group = new ProcessGroup(child, timers, options.killGraceMs ?? KILL_GRACE_MS);
    let stopped: { why: 'timeout' | 'aborted'; reason?: string } | undefined;
    const stop = (why: 'timeout' | 'aborted', reason?: string): void => {
      // Once the plugin itself has exited, its code stands: only its leftovers are being ended.
      if (child.exitCode !== null || child.signalCode !== null) return;
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
    child.on('error', (error: NodeJS.ErrnoException) => {
      // A failure to start (ENOENT, EACCES) comes as an error with no pid; later errors (a failed
      // kill) change nothing: the close event still reports the end.
      if (child.pid === undefined) settle(notStarted(describeSpawnError(error)));
    });
    // The leader has exited: whatever it left running in its group goes too, so that nothing of
    // the run outlives it and its output pipes close (what `close` waits for).
    child.on('exit', () => group.terminate());
    child.on('close', (code, signal) => {
      const streams = { stdout: stdout.text(), stderr: stderr.text() };
      if (stopped) settle({ kind: 'stopped', ...stopped, ...streams });
      else if (signal) settle({ kind: 'signaled', signal, ...streams });
      else settle({ kind: 'exited', code: code ?? 0, ...streams });
    });
  });
}

function notStarted(reason: string): PluginOutcome {
  return { kind: 'not-started', reason };
}

function describeSpawnError(error: NodeJS.ErrnoException): string {
  if (error.code === 'ENOENT') return 'not found';
  if (error.code === 'EACCES') return 'permission denied';
  return error.code ? `${error.code}: ${error.message}` : error.message;
}

/**
 * The plugin's process group (its pid, since it was spawned detached): ended as a whole, SIGTERM
 * first, SIGKILL after the grace to whatever is still there.
 */
class ProcessGroup {
  private graceTimer: unknown;
  private terminating = false;

  constructor(
    private readonly child: ChildProcess,
    private readonly timers: Timers,
    private readonly graceMs: number,
  ) {}

  terminate(): void {
    if (this.terminating || this.child.pid === undefined) return;
    this.terminating = true;
    if (!this.signal('SIGTERM')) return;
    this.graceTimer = this.timers.setTimeout(
      () => {
        this.graceTimer = undefined;
        this.signal('SIGKILL');
        // A process that left the group (setsid) may still hold the pipes: stop waiting for them.
        this.child.stdout?.destroy();
        this.child.stderr?.destroy();
      },
      this.graceMs,
      true,
    );
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
      process.kill(-this.child.pid!, signal);
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * Keeps the first `limitBytes` of a stream and counts the rest: the chunks past the limit are
 * dropped as they arrive. When something was dropped, the text is cut back to its last blank, so a
 * word or a perfdata item is never kept half.
 */
export class OutputCap {
  private readonly chunks: Buffer[] = [];
  private keptBytes = 0;
  private droppedBytes = 0;

  constructor(private readonly limitBytes: number) {}

  add(chunk: Buffer): void {
    const room = this.limitBytes - this.keptBytes;
    if (room > 0) {
      const kept = chunk.length <= room ? chunk : chunk.subarray(0, room);
      // A copy of the slice, so the rest of a large chunk is not kept alive through it.
      this.chunks.push(kept === chunk ? chunk : Buffer.from(kept));
      this.keptBytes += kept.length;
    }
    this.droppedBytes += Math.max(0, chunk.length - Math.max(0, room));
  }

  text(): CappedText {
    let text = Buffer.concat(this.chunks).toString('utf8');
    if (this.droppedBytes > 0) {
      const lastBlank = Math.max(text.lastIndexOf(' '), text.lastIndexOf('\n'), text.lastIndexOf('\t'));
      if (lastBlank > 0) text = text.slice(0, lastBlank);
    }
    return { text, droppedBytes: this.droppedBytes, limitBytes: this.limitBytes };
  }
}
