// What starting a plugin process means, whoever starts it: the agent itself (spawn-in-agent.ts) or
// the plugin launcher (launcher.ts). A spawner starts the process and reports what happens to it;
// run-plugin.ts decides timeouts and signals, the same way for both.

/**
 * The environment every plugin gets, and nothing of the agent's: a fixed PATH (the agent's own may
 * name anything) and the C locale, so plugins print numbers with a `.` (the perfdata format).
 */
export const PLUGIN_ENVIRONMENT: Readonly<Record<string, string>> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  LANG: 'C',
};

/** What is kept of each stream, at most. */
export interface OutputLimits {
  stdoutBytes: number;
  stderrBytes: number;
}

/** What was kept of one output stream. */
export interface CappedText {
  text: string;
  /** Bytes read past the limit and dropped (0 when all was kept). */
  droppedBytes: number;
  limitBytes: number;
}

/** What a spawner reports of one run, in this order: started or failed; then exited, closed. */
export interface PluginSink {
  /** It runs, in its own process group (whose id is `pid`). */
  started(pid: number): void;
  /** It never ran: not found, not executable, a bad argument. */
  failed(reason: string): void;
  /**
   * Its leader is gone. `leftovers`: whether processes of its group still run, when the spawner
   * knows (the launcher looks; the agent's own spawn does not).
   */
  exited(code: number | null, signal: NodeJS.Signals | null, leftovers?: boolean): void;
  /** The run is over: exited, and both streams closed (or abandoned). */
  closed(stdout: CappedText, stderr: CappedText): void;
  /** The spawner lost the run (the launcher died): its end will never be known. */
  lost(reason: string): void;
}

export interface PluginRun {
  /** Stops waiting for the streams: a process that left the group may hold them open forever. */
  abandonOutput(): void;
}

export interface PluginSpawner {
  /** Starts `argv` (argv[0]: a path, or a name looked up in PLUGIN_ENVIRONMENT's PATH). */
  spawn(argv: readonly string[], limits: OutputLimits, sink: PluginSink): PluginRun;
  /** Ends what the spawner keeps running (the launcher process), once no run is wanted. */
  close?(): Promise<void>;
}

/** Arguments no process can get: Node and the launcher refuse them alike, with this reason. */
export function invalidArgv(argv: readonly string[]): string | undefined {
  if (!argv[0]) return 'the program name is empty';
  const index = argv.findIndex((argument) => argument.includes('\0'));
  return index < 0 ? undefined : `argument ${index} holds a NUL byte`;
}

/**
 * What is kept of a stream, as text: when something was dropped, cut back to its last blank, so
 * a word or a perfdata item is never kept half.
 */
export function cappedText(kept: Buffer, droppedBytes: number, limitBytes: number): CappedText {
  let text = kept.toString('utf8');
  if (droppedBytes > 0) {
    const lastBlank = Math.max(text.lastIndexOf(' '), text.lastIndexOf('\n'), text.lastIndexOf('\t'));
    if (lastBlank > 0) text = text.slice(0, lastBlank);
  }
  return { text, droppedBytes, limitBytes };
}

/** Keeps the first `limitBytes` of a stream and counts the rest, dropped as the chunks arrive. */
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
    return cappedText(Buffer.concat(this.chunks), this.droppedBytes, this.limitBytes);
  }
}
