// The cluster RPC on the primary key of the moment. Its private network's pre-shared key is derived
// from the primary cluster key, so the RPC restarts when the primary changes: one restart at a
// time, always to the latest primary (two quick changes make one restart, or two in a row, never
// two RPCs racing for the port), and a start that fails (the port not yet released, ...) is retried
// with backoff until it works or the agent stops: a node is never left unable to push-pull.
import type { ClusterRpc } from '../rpc/types.js';
import { SYSTEM_TIMERS, type Timers } from '../shared/timers.js';

export interface RpcFollowerOptions {
  create: (clusterKey: Buffer | undefined) => ClusterRpc;
  /** Registers the protocol handlers on a new RPC, before it starts. */
  setup: (rpc: ClusterRpc) => void;
  /** The key the RPC must use: the keyring's primary. */
  currentKey: () => Buffer | undefined;
  /** A restart worked (after failures too). */
  onRestarted?: (rpc: ClusterRpc) => void;
  /** A restart failed; the next attempt comes in `retryInMs`. */
  onFailure?: (error: unknown, retryInMs: number) => void;
  /** Backoff between failed restarts: first, then doubling up to max. */
  retryMs?: { first: number; max: number };
  /** The backoff's timer; tests drive it. */
  timers?: Timers;
}

export class RpcFollower {
  private rpc?: ClusterRpc;
  /** The key the running RPC was built with: undefined for none (an open cluster), null when none runs. */
  private key: Buffer | undefined | null = null;
  private following?: Promise<void>;
  private stopped = false;
  /** Ends the backoff sleep at once (stop()). */
  private wake?: () => void;

  private readonly timers: Timers;

  constructor(private readonly options: RpcFollowerOptions) {
    this.timers = options.timers ?? SYSTEM_TIMERS;
  }

  /** The running RPC, if any (none while a restart is under way). */
  get current(): ClusterRpc | undefined {
    return this.rpc;
  }

  /** The first start: a failure is the agent's failure to start (the port is taken, ...). */
  async start(): Promise<void> {
    const key = this.options.currentKey();
    this.rpc = await this.launch(key);
    this.key = key;
  }

  /** Makes the RPC follow the current primary key (soon: restarts run in the background). */
  follow(): void {
    if (this.following || this.stopped) return;
    this.following = this.restartUntilCurrent().finally(() => {
      this.following = undefined;
    });
  }

  /** Resolves once no restart is under way (tests). */
  async settled(): Promise<void> {
    while (this.following) await this.following;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.following;
    await this.rpc?.stop();
    this.rpc = undefined;
  }

  private async restartUntilCurrent(): Promise<void> {
    const { first, max } = this.options.retryMs ?? { first: 500, max: 10_000 };
    let delayMs = first;
    while (!this.stopped && !sameKey(this.key, this.options.currentKey())) {
      const wanted = this.options.currentKey();
      try {
        const previous = this.rpc;
        this.rpc = undefined;
        this.key = null;
        await previous?.stop();
        if (this.stopped) return;
        this.rpc = await this.launch(wanted);
        this.key = wanted;
        delayMs = first;
        this.options.onRestarted?.(this.rpc);
      } catch (error) {
        // Stopped while this start was under way: no retry, and no backoff for stop() to wait out.
        if (this.stopped) return;
        this.options.onFailure?.(error, delayMs);
        await this.sleep(delayMs);
        delayMs = Math.min(delayMs * 2, max);
      }
    }
  }

  private async launch(key: Buffer | undefined): Promise<ClusterRpc> {
    const rpc = this.options.create(key);
    this.options.setup(rpc);
    try {
      await rpc.start();
    } catch (error) {
      await rpc.stop().catch(() => undefined);
      throw error;
    }
    return rpc;
  }

  /** The backoff: ends at once when stopped (stop() may come before the sleep begins). */
  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = this.timers.setTimeout(() => this.wake?.(), ms, true);
      this.wake = () => {
        this.wake = undefined;
        this.timers.clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** Whether an RPC runs with `wanted` (undefined: no key). */
function sameKey(running: Buffer | undefined | null, wanted: Buffer | undefined): boolean {
  if (running === null) return false;
  if (!running || !wanted) return running === wanted;
  return running.equals(wanted);
}
