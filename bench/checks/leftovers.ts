// Every process seen in a measured tree (pid and start time), so that whatever outlives its parent
// (a Nagios worker after its daemon was SIGKILLed, a plugin) is stopped by pid at the end; a pid
// reused since by another process is left alone.
import { stillRunning, type ProcessId, type TreeSample } from '../collectors/proc-tree.js';

export class SeenProcesses {
  private readonly seen = new Map<string, ProcessId>();

  /** Remembers the sample's processes; returns the sample. */
  remember(sample: TreeSample | undefined): TreeSample | undefined {
    for (const id of sample?.members ?? []) this.seen.set(`${id.pid}:${id.startTicks}`, id);
    return sample;
  }

  /** SIGKILLs every remembered process that still runs (synchronous: usable on exit). */
  killLeftovers(): void {
    for (const id of this.seen.values()) {
      if (id.pid === process.pid || !stillRunning(id)) continue;
      try {
        process.kill(id.pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
  }
}
