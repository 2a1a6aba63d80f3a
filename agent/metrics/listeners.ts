// The metric listeners' sockets: statsd over UDP, graphite plaintext over TCP and UDP. They only
// move bytes: what a packet or a line means is the parsers' business (statsd-parser.ts,
// graphite-parser.ts). Every input a stranger controls is bounded: a datagram is at most 64 KiB
// by nature; a TCP line at most MAX_LINE_BYTES (a longer one is skipped to its newline, never
// kept); at most MAX_TCP_CONNECTIONS at once, each closed after TCP_IDLE_MS without a byte.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type AddressInfo, type Server, type Socket } from 'node:net';
import { GraphiteLineSplitter, type LineVisitor } from './graphite-parser.js';

export const MAX_LINE_BYTES = 4096;
export const MAX_TCP_CONNECTIONS = 1024;
export const TCP_IDLE_MS = 60_000;
/** Asked of the kernel for the UDP sockets: bursts of datagrams queue there, not on the floor. */
const UDP_RECEIVE_BUFFER_BYTES = 8 * 1024 * 1024;

export interface ListenerCounters {
  udp_packets: number;
  tcp_connections: number;
  tcp_refused: number;
  oversized_lines: number;
}

/** A UDP socket bound to host:port, each datagram handed to `onPacket`. */
export async function listenUdp(
  host: string,
  port: number,
  onPacket: (packet: Buffer) => void,
): Promise<UdpSocket> {
  const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host === 'localhost' ? '127.0.0.1' : host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  try {
    socket.setRecvBufferSize(UDP_RECEIVE_BUFFER_BYTES);
  } catch {
    // The kernel's net.core.rmem_max caps it; the default then.
  }
  socket.on('error', () => {});
  socket.on('message', (packet) => onPacket(packet));
  return socket;
}

export function closeUdp(socket: UdpSocket | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!socket) return resolve();
    try {
      socket.close(() => resolve());
    } catch {
      resolve();
    }
  });
}

/** A TCP listener handing every complete line to `onLine` (as text[start, end)), within the bounds above. */
export class LineServer {
  private server?: Server;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly onLine: LineVisitor,
    private readonly counters: ListenerCounters,
    private readonly idleMs = TCP_IDLE_MS,
    /** Wraps the reading of each chunk's lines (the subsystem reads its clock once there). */
    private readonly chunk: (read: () => void) => void = (read) => read(),
  ) {}

  async listen(host: string, port: number): Promise<number> {
    const server = createServer((socket) => this.serve(socket));
    server.maxConnections = MAX_TCP_CONNECTIONS;
    server.on('drop', () => this.counters.tcp_refused++);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host === 'localhost' ? '127.0.0.1' : host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => {});
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }

  private serve(socket: Socket): void {
    this.counters.tcp_connections++;
    this.sockets.add(socket);
    const splitter = new GraphiteLineSplitter(MAX_LINE_BYTES);
    let oversizedSeen = 0;
    socket.setTimeout(this.idleMs, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      this.chunk(() => splitter.pushEach(chunk, this.onLine));
      this.counters.oversized_lines += splitter.oversizedLines - oversizedSeen;
      oversizedSeen = splitter.oversizedLines;
    });
    socket.on('end', () => {
      for (const line of splitter.end()) this.onLine(line, 0, line.length);
      socket.end();
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.sockets.delete(socket));
  }
}
