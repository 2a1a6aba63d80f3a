// How gossip packets travel: UDP for real agents, memory for the in-process simulator and unit
// tests. Both can drop a share of packets on purpose, to test the protocol under loss.
import { createSocket, type Socket } from 'node:dgram';

export interface PacketAddress {
  address: string;
  port: number;
}

export type PacketHandler = (packet: Buffer, from: PacketAddress) => void;

/** A socket error: `code` is the errno name (EMSGSIZE, ENETUNREACH, ...) or Node's error code. */
export interface SocketError {
  code: string;
  message: string;
}

export interface PacketTransport {
  /** Where this transport receives. */
  readonly local: PacketAddress;
  send(to: PacketAddress, packet: Uint8Array): void;
  /** Sends to a broadcast address (LAN detection). */
  broadcast(to: PacketAddress, packet: Uint8Array): void;
  onPacket(handler: PacketHandler): void;
  /** Socket errors (a failed send, an ICMP error): reported here, never thrown by send(). */
  onError(handler: (error: SocketError) => void): void;
  close(): Promise<void>;
}

export interface UdpTransportOptions {
  address: string;
  port: number;
  /** Drop this share of sent packets (0-100): a test knob, off by default. */
  dropPercent?: number;
}

export class UdpTransport implements PacketTransport {
  private handler: PacketHandler = () => undefined;
  private errorHandler: (error: SocketError) => void = () => undefined;
  /** One callback for every send (not a closure per packet). */
  private readonly afterSend = (error: Error | null) => {
    if (error) this.report(error);
  };

  private constructor(
    private readonly socket: Socket,
    readonly local: PacketAddress,
    private readonly dropPercent: number,
  ) {
    socket.on('message', (packet, remote) =>
      this.handler(packet, { address: remote.address, port: remote.port }),
    );
    // A failed send or an ICMP error for one peer must not take the agent down: UDP is lossy anyway,
    // and the protocol already treats a lost packet as lost. Reported, so they are counted and logged.
    socket.on('error', (error) => this.report(error));
  }

  static async bind(options: UdpTransportOptions): Promise<UdpTransport> {
    const socket = createSocket({ type: 'udp4', reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new Error(
            `cannot listen for gossip on udp ${options.address}:${options.port}: ${error.code ?? error.message}`,
          ),
        ),
      );
      socket.bind(options.port, options.address, () => resolve());
    });
    socket.removeAllListeners('error');
    const bound = socket.address();
    return new UdpTransport(socket, { address: bound.address, port: bound.port }, options.dropPercent ?? 0);
  }

  send(to: PacketAddress, packet: Uint8Array): void {
    if (this.dropPercent > 0 && Math.random() * 100 < this.dropPercent) return;
    try {
      // With a callback, a failed send is reported there instead of as an 'error' event.
      this.socket.send(packet, to.port, to.address, this.afterSend);
    } catch (error) {
      // Thrown synchronously: a closed socket, an invalid port or address.
      this.report(error);
    }
  }

  broadcast(to: PacketAddress, packet: Uint8Array): void {
    try {
      this.socket.setBroadcast(true);
    } catch (error) {
      return this.report(error);
    }
    this.send(to, packet);
  }

  onPacket(handler: PacketHandler): void {
    this.handler = handler;
  }

  onError(handler: (error: SocketError) => void): void {
    this.errorHandler = handler;
  }

  private report(error: unknown): void {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    this.errorHandler({
      code: typeof code === 'string' && code ? code : 'unknown',
      message: error instanceof Error ? error.message : String(error),
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** An in-memory network: every transport on it reaches the others by address:port. */
export class MemoryNetwork {
  private readonly endpoints = new Map<string, MemoryTransport>();
  /** Links that lose every packet, as "address->address" (one direction each). */
  readonly blockedLinks = new Set<string>();
  packetsSent = 0;

  constructor(
    /** Share of packets lost (0-100). */
    public dropPercent = 0,
    /** One-way delay in ms (0: next tick). */
    public latencyMs = 0,
  ) {}

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
    if (this.dropPercent > 0 && Math.random() * 100 < this.dropPercent) return;
    if (this.blockedLinks.has(`${from.address}->${to.address}`)) return;
    const target = this.endpoints.get(`${to.address}:${to.port}`);
    if (!target) return;
    const copy = Buffer.from(packet);
    if (this.latencyMs > 0) setTimeout(() => target.receive(copy, from), this.latencyMs);
    else setImmediate(() => target.receive(copy, from));
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
