// The DNS interface's sockets: one UDP socket and one TCP listener on the same address and port.
// TCP (RFC 7766): each message behind a 2-byte length; several queries may follow one another on
// one connection (pipelining) and are answered as they are ready; a connection idle for
// TCP_IDLE_MS is closed, as is one whose client sends what cannot be a DNS message. What a
// stranger can make the agent hold is bounded: MAX_TCP_CONNECTIONS connections, one message of at
// most 65,535 bytes each being read, and MAX_PIPELINED answers pending per connection.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import type { DnsReply } from './responder.js';
import type { DnsStats, DnsTransport } from './stats.js';

export const TCP_IDLE_MS = 10_000;
export const MAX_TCP_CONNECTIONS = 256;
export const MAX_PIPELINED = 32;

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

  /** Listens on both; resolves with the port (the one the system chose for port 0). */
  async listen(host: string, port: number): Promise<number> {
    const udp = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    this.udp = udp;
    // A send that failed (the client's port unreachable) is the client's loss, never the agent's.
    udp.on('error', () => {});
    udp.on('message', (message, from) => this.onUdp(udp, message, from.address, from.port));
    const bound = udp.address().port;

    const tcp = createServer((socket) => this.onConnection(socket));
    tcp.maxConnections = MAX_TCP_CONNECTIONS;
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(bound, host, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      udp.close();
      this.udp = undefined;
      throw error;
    }
    tcp.on('error', () => {});
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
    udp.send(reply.bytes, port, address);
    this.record(reply, started);
  }

  private onConnection(socket: Socket): void {
    this.connections.add(socket);
    socket.setNoDelay(true);
    socket.setTimeout(this.idleMs, () => socket.destroy());
    socket.on('error', () => {});
    socket.on('close', () => this.connections.delete(socket));
    let buffered: Buffer = Buffer.alloc(0);
    let pending = 0;
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      while (buffered.length >= 2) {
        const length = buffered.readUInt16BE(0);
        if (buffered.length < 2 + length) break;
        const message = Buffer.from(buffered.subarray(2, 2 + length));
        buffered = buffered.subarray(2 + length);
        if (length < 12) {
          // Not a DNS message, whatever the length said: nothing more on this connection makes sense.
          socket.destroy();
          return;
        }
        pending++;
        this.stats.query('tcp');
        const started = performance.now();
        void this.safely(message, 'tcp').then((reply) => {
          pending--;
          if (pending < MAX_PIPELINED && socket.isPaused()) socket.resume();
          if (!reply || socket.destroyed) return this.stats.drop();
          const framed = Buffer.alloc(2 + reply.bytes.length);
          framed.writeUInt16BE(reply.bytes.length, 0);
          reply.bytes.copy(framed, 2);
          socket.write(framed);
          this.record(reply, started);
        });
      }
      // A client that sends faster than it reads its answers waits for them.
      if (pending >= MAX_PIPELINED) socket.pause();
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
