// How gossip packets travel: UDP for real agents, behind an interface so the simulator and the
// engine tests (bench/gossip/memory-network.ts) carry them in memory instead.
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
    return new UdpTransport(socket, { address: bound.address, port: bound.port });
  }

  send(to: PacketAddress, packet: Uint8Array): void {
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
