// Caps the requests in flight to one target address. A burst beyond the remote's stream limits
// would not queue there: yamux resets the excess streams, and on a fresh connection a burst past
// its early-stream limit resets the whole connection. So bursts wait here, within their timeout.
import { asError } from './errors.js';

interface Lane {
  active: number;
  waiting: Array<() => void>;
}

export class RequestGate {
  private readonly lanes = new Map<string, Lane>();

  constructor(private readonly maxInFlightPerTarget: number) {}

  /** Waits for a slot for `target`; resolves with the function that gives it back (call it once). */
  async enter(target: string, signal: AbortSignal): Promise<() => void> {
    let lane = this.lanes.get(target);
    if (!lane) {
      lane = { active: 0, waiting: [] };
      this.lanes.set(target, lane);
    }
    if (lane.active < this.maxInFlightPerTarget) lane.active++;
    else await this.wait(lane, signal); // leave() hands its slot straight to us: no overtaking
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.leave(target, lane);
    };
  }

  /** Requests in flight to `target` (for tests and diagnostics). */
  inFlight(target: string): number {
    return this.lanes.get(target)?.active ?? 0;
  }

  private wait(lane: Lane, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    return new Promise<void>((resolve, reject) => {
      const wake = (): void => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        const index = lane.waiting.indexOf(wake);
        if (index !== -1) lane.waiting.splice(index, 1);
        reject(asError(signal.reason));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      lane.waiting.push(wake);
    });
  }

  private leave(target: string, lane: Lane): void {
    const next = lane.waiting.shift();
    if (next) {
      next();
      return;
    }
    lane.active--;
    if (lane.active === 0) this.lanes.delete(target);
  }
}
