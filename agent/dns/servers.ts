// The DNS interface's sockets: one UDP socket and one TCP listener on the same address and port
// (`localhost` means 127.0.0.1 for both, so a client's retry over TCP finds the same address).
// Each TCP client is served by tcp-connection.ts, within its bounds; at most MAX_TCP_CONNECTIONS.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type AddressInfo, type Server, type Socket } from 'node:net';
import type { DnsReply } from './responder.js';
import { serveTcpConnection } from './tcp-connection.js';
import type { DnsStats, DnsTransport } from './stats.js';

export const TCP_IDLE_MS = 10_000;
export const MAX_TCP_CONNECTIONS = 256;
/** How many ports `listen(host, 0)` tries before it gives up (see there). */
const PORT_ZERO_ATTEMPTS = 20;

/** What answers: at once from kept answers when it can, else the full (async) way. */
export interface Answerer {
  respondFromCache(query: Buffer, transport: DnsTransport): DnsReply | undefined;
  respond(query: Buffer, transport: DnsTransport): Promise<DnsReply | undefined>;
}

export class DnsServers {
  private udp?: UdpSocket;
  private tcp?: Server;
  private readonly connections = new Set<Socket>();

  constructor(
    private readonly answer: Answerer,
    private readonly stats: DnsStats,
    /** How long a TCP connection may stay idle (tests shorten it). */
    private readonly idleMs = TCP_IDLE_MS,
  ) {}

  /**
   * Listens on both; resolves with the port. Port 0: a port free for TCP (the system's choice),
   * then UDP on the same one; the system chooses each protocol's ports apart, so when that port
   * is taken in UDP it starts over, up to PORT_ZERO_ATTEMPTS times.
   */
  async listen(bindHost: string, port: number): Promise<number> {
    const host = bindHost === 'localhost' ? '127.0.0.1' : bindHost;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.listenOnce(host, port);
      } catch (error) {
        const taken = (error as NodeJS.ErrnoException).code === 'EADDRINUSE';
        if (port !== 0 || !taken || attempt >= PORT_ZERO_ATTEMPTS) throw error;
      }
    }
  }

  private async listenOnce(host: string, port: number): Promise<number> {
    const tcp = createServer((socket) => this.onConnection(socket));
    tcp.maxConnections = MAX_TCP_CONNECTIONS;
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(port, host, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
    const bound = (tcp.address() as AddressInfo).port;
    const udp = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(bound, host, () => {
          udp.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
      throw error;
    }
    // A send that failed (the client's port unreachable) is the client's loss, never the agent's.
    udp.on('error', () => {});
    udp.on('message', (message, from) => this.onUdp(udp, message, from.address, from.port));
    tcp.on('error', () => {});
    this.udp = udp;
    this.tcp = tcp;
    return bound;
  }

  async close(): Promise<void> {
    for (const socket of this.connections) socket.destroy();
    await Promise.all([
      new Promise<void>((resolve) => (this.udp ? this.udp.close(() => resolve()) : resolve())),
      new Promise<void>((resolve) => (this.tcp ? this.tcp.close(() => resolve()) : resolve())),
    ]);
    this.udp = undefined;
    this.tcp = undefined;
  }

  private onUdp(udp: UdpSocket, message: Buffer, address: string, port: number): void {
    this.stats.query('udp');
    // Source port 0 cannot be answered (Node refuses to send there): a spoofed packet.
    if (port === 0) return this.stats.drop();
    const started = performance.now();
    // Kept answers go out in this turn, without a promise (most queries, under load).
    const kept = this.fromCache(message, 'udp');
    if (kept) return this.sendUdp(udp, kept, address, port, started);
    void this.safely(message, 'udp').then((reply) => this.sendUdp(udp, reply, address, port, started));
  }

  private sendUdp(
    udp: UdpSocket,
    reply: DnsReply | undefined,
    address: string,
    port: number,
    started: number,
  ): void {
    if (!reply) return this.stats.drop();
    try {
      // Throws at once for a socket closed meanwhile (the agent stopping).
      udp.send(reply.bytes, port, address);
    } catch {
      return this.stats.drop();
    }
    this.record(reply, started);
  }

  private onConnection(socket: Socket): void {
    this.connections.add(socket);
    socket.on('close', () => this.connections.delete(socket));
    serveTcpConnection(socket, {
      idleMs: this.idleMs,
      answer: async (message) => {
        this.stats.query('tcp');
        const started = performance.now();
        const reply = this.fromCache(message, 'tcp') ?? (await this.safely(message, 'tcp'));
        if (!reply || socket.destroyed) {
          this.stats.drop();
          return undefined;
        }
        this.record(reply, started);
        return reply.bytes;
      },
    });
  }

  /** The responder's answer; a bug in it is a SERVFAIL-less drop, never a crash of the agent. */
  private async safely(message: Buffer, transport: DnsTransport): Promise<DnsReply | undefined> {
    try {
      return await this.answer.respond(message, transport);
    } catch {
      return undefined;
    }
  }

  private fromCache(message: Buffer, transport: DnsTransport): DnsReply | undefined {
    try {
      return this.answer.respondFromCache(message, transport);
    } catch {
      return undefined;
    }
  }

  private record(reply: DnsReply, started: number): void {
    this.stats.answered(reply.rcode, (performance.now() - started) * 1000, reply.truncated, reply.forwarded);
  }
}
