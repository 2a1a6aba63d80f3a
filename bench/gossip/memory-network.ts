// An in-memory network for gossip engines in one process: the simulator (bench:gossip-sim) and the
// engine tests. It can lose a share of packets, block links and add latency, on purpose. Its time
// (deliveries) and its chance (which packets are lost) can be the test's own: with manual timers
// and a seeded generator, a run replays exactly.
import type { PacketAddress, PacketHandler, PacketTransport } from '../../agent/gossip/transport.js';
import { SYSTEM_TIMERS, type Timers } from '../../agent/shared/timers.js';

export interface MemoryNetworkOptions {
  /** Share of packets lost (0-100). */
  dropPercent?: number;
  /** One-way delay in ms (0: the next turn of the event loop). */
  latencyMs?: number;
  /** What delivers packets later: Node's timers by default. */
  timers?: Timers;
  /** Decides which packets are lost: Math.random by default; a seeded one replays a run. */
  random?: () => number;
}

/** An in-memory network: every transport on it reaches the others by address:port. */
export class MemoryNetwork {
  private readonly endpoints = new Map<string, MemoryTransport>();
  /** Links that lose every packet, as "address->address" (one direction each). */
  readonly blockedLinks = new Set<string>();
  packetsSent = 0;
  /** Packets lost on purpose (dropPercent). */
  packetsLost = 0;
  /** Share of packets lost (0-100). */
  dropPercent: number;
  /** One-way delay in ms (0: the next turn of the event loop). */
  latencyMs: number;
  private readonly timers: Timers;
  private readonly random: () => number;

  constructor(options: MemoryNetworkOptions = {}) {
    this.dropPercent = options.dropPercent ?? 0;
    this.latencyMs = options.latencyMs ?? 0;
    this.timers = options.timers ?? SYSTEM_TIMERS;
    this.random = options.random ?? Math.random;
  }

  attach(address: string, port: number): MemoryTransport {
    const transport = new MemoryTransport(this, { address, port });
    this.endpoints.set(`${address}:${port}`, transport);
    return transport;
  }

  detach(transport: MemoryTransport): void {
    this.endpoints.delete(`${transport.local.address}:${transport.local.port}`);
  }

  deliver(from: PacketAddress, to: PacketAddress, packet: Uint8Array): void {
    this.packetsSent++;
    if (this.dropPercent > 0 && this.random() * 100 < this.dropPercent) {
      this.packetsLost++;
      return;
    }
    if (this.blockedLinks.has(`${from.address}->${to.address}`)) return;
    const target = this.endpoints.get(`${to.address}:${to.port}`);
    if (!target) return;
    const copy = Buffer.from(packet);
    if (this.latencyMs > 0) this.timers.setTimeout(() => target.receive(copy, from), this.latencyMs);
    else this.timers.setImmediate(() => target.receive(copy, from));
  }
}

export class MemoryTransport implements PacketTransport {
  private handler: PacketHandler = () => undefined;

  constructor(
    private readonly network: MemoryNetwork,
    readonly local: PacketAddress,
  ) {}

  send(to: PacketAddress, packet: Uint8Array): void {
    this.network.deliver(this.local, to, packet);
  }

  broadcast(): void {
    // No broadcast domain in memory.
  }

  onPacket(handler: PacketHandler): void {
    this.handler = handler;
  }

  onError(): void {
    // Memory does not fail.
  }

  receive(packet: Buffer, from: PacketAddress): void {
    this.handler(packet, from);
  }

  close(): Promise<void> {
    this.network.detach(this);
    return Promise.resolve();
  }
}
