// Forwarding to carbon (`graphite.forward`): every point the store takes is also sent, as carbon's
// plaintext protocol (`path value timestamp\n`), to each configured carbon server, so an existing
// graphite keeps the long-term data. Points wait in a bounded queue per server (the oldest are
// dropped beyond it, and counted) and go in batches over one TCP connection; a server that is down
// is dialled again with a growing pause (1 s to 30 s) while its queue holds what comes meanwhile.
// Delivery is at most once: lines written into a connection that then breaks may be lost.
import { connect, type Socket } from 'node:net';

/** A partial batch goes out after this long. */
const FLUSH_MS = 1_000;
/** Lines one write carries at most. */
const BATCH_LINES = 5_000;
const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 30_000;

export interface ForwardTarget {
  host: string;
  port: number;
}

export interface ForwarderStats {
  target: string;
  connected: boolean;
  queued: number;
  sent: number;
  dropped: number;
}

/** One carbon server: its queue, its connection, its counters. */
class CarbonLink {
  /** Lines waiting are queue[head..]: dropping or sending the oldest moves head, not the array. */
  private queue: string[] = [];
  private head = 0;
  private socket?: Socket;
  private connecting = false;
  private retryMs = RETRY_MIN_MS;
  private retryTimer?: NodeJS.Timeout;
  private sendTimer?: NodeJS.Timeout;
  private closed = false;
  sent = 0;
  dropped = 0;

  constructor(
    readonly target: ForwardTarget,
    private readonly maxQueued: number,
  ) {}

  push(line: string): void {
    if (this.closed) return;
    this.queue.push(line);
    if (this.waiting > this.maxQueued) {
      // Oldest first: what is newest matters most to whoever looks at the graphs. A full queue
      // drops one line a point for as long as the server is down: that must cost O(1).
      this.head++;
      this.dropped++;
      this.compact();
    }
    if (this.waiting >= BATCH_LINES) this.send();
    else if (!this.sendTimer) {
      this.sendTimer = setTimeout(() => this.send(), FLUSH_MS);
      this.sendTimer.unref();
    }
  }

  stats(): ForwarderStats {
    return {
      target: `${this.target.host}:${this.target.port}`,
      connected: this.socket !== undefined && !this.connecting,
      queued: this.waiting,
      sent: this.sent,
      dropped: this.dropped,
    };
  }

  /** Writes what is queued when connected (end() sends it before closing), then stops. */
  close(): void {
    if (this.socket && !this.connecting) this.send();
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.sendTimer);
    this.socket?.end();
  }

  private send(): void {
    clearTimeout(this.sendTimer);
    this.sendTimer = undefined;
    if (this.closed || !this.waiting) return;
    if (!this.socket) return this.dial();
    if (this.connecting || this.socket.writableNeedDrain) return;
    while (this.waiting) {
      const batch = this.queue.slice(this.head, this.head + BATCH_LINES);
      this.head += batch.length;
      this.sent += batch.length;
      const written = this.socket.write(batch.join(''));
      this.compact();
      if (!written) break; // the rest on 'drain'
    }
  }

  private get waiting(): number {
    return this.queue.length - this.head;
  }

  /** Lets go of the lines before head once they are most of the array (amortised O(1)). */
  private compact(): void {
    if (this.head >= BATCH_LINES && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private dial(): void {
    if (this.connecting || this.retryTimer || this.closed) return;
    this.connecting = true;
    const socket = connect(this.target.port, this.target.host);
    this.socket = socket;
    socket.setNoDelay(true);
    socket.once('connect', () => {
      this.connecting = false;
      this.retryMs = RETRY_MIN_MS;
      this.send();
    });
    socket.on('drain', () => this.send());
    // carbon sends nothing back; reading keeps the socket from filling the kernel's buffer if it did.
    socket.on('data', () => undefined);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      if (this.socket === socket) this.socket = undefined;
      this.connecting = false;
      if (this.closed) return;
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.send();
      }, this.retryMs);
      this.retryTimer.unref();
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    });
  }
}

/** Every carbon server of `graphite.forward`. */
export class CarbonForwarder {
  private readonly links: CarbonLink[];

  constructor(targets: ForwardTarget[], options: { maxQueued: number }) {
    this.links = targets.map((target) => new CarbonLink(target, options.maxQueued));
  }

  /** One point for every server (its name as the store keeps it, whole seconds). */
  push(name: string, timestampSeconds: number, value: number): void {
    if (!this.links.length || !Number.isFinite(value)) return;
    const line = `${name} ${value} ${Math.floor(timestampSeconds)}\n`;
    for (const link of this.links) link.push(line);
  }

  stats(): ForwarderStats[] {
    return this.links.map((link) => link.stats());
  }

  close(): void {
    for (const link of this.links) link.close();
  }
}
