// Queries outside the domain, sent on to the configured recursors as they came (bytes untouched
// but the id), one recursor after the other until one answers: over UDP for a UDP query (a fresh
// socket each, so the source port is as random as the kernel makes it), over TCP for a TCP one.
// An answer is taken only from the recursor asked, with the id it was sent. At most
// MAX_IN_FLIGHT forwards at once: beyond that a query gets SERVFAIL, never a queue of strangers'.
import { createSocket } from 'node:dgram';
import { connect, isIPv6 } from 'node:net';
import type { DnsTransport } from './stats.js';

export const FORWARD_TIMEOUT_MS = 2000;
export const MAX_IN_FLIGHT = 256;

export interface Recursor {
  host: string;
  port: number;
}

export class Recursors {
  private inFlight = 0;

  constructor(
    private readonly recursors: readonly Recursor[],
    private readonly timeoutMs = FORWARD_TIMEOUT_MS,
  ) {}

  async forward(query: Buffer, transport: DnsTransport): Promise<Buffer | undefined> {
    if (this.inFlight >= MAX_IN_FLIGHT) return undefined;
    this.inFlight++;
    try {
      for (const recursor of this.recursors) {
        const id = Math.floor(Math.random() * 0x10000);
        const sent = Buffer.from(query);
        sent.writeUInt16BE(id, 0);
        const answer =
          transport === 'udp'
            ? await askUdp(recursor, sent, id, this.timeoutMs)
            : await askTcp(recursor, sent, id, this.timeoutMs);
        if (answer) {
          // The client's id back.
          answer.writeUInt16BE(query.readUInt16BE(0), 0);
          return answer;
        }
      }
      return undefined;
    } finally {
      this.inFlight--;
    }
  }
}

/**
 * Asks one recursor: `start` sends the query and calls `done` with its answer; no answer within
 * `timeoutMs` (or a socket error) is undefined. `start` returns how to release its socket.
 */
function answerWithin(
  timeoutMs: number,
  start: (done: (answer: Buffer | undefined) => void) => () => void,
): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    let settled = false;
    let release = (): void => {};
    const done = (answer: Buffer | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      release();
      resolve(answer);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    release = start(done);
  });
}

/** Sends `query` (already carrying `id`) to one recursor; its answer, or undefined. */
type Ask = (recursor: Recursor, query: Buffer, id: number, timeoutMs: number) => Promise<Buffer | undefined>;

const askUdp: Ask = (recursor, query, id, timeoutMs) =>
  answerWithin(timeoutMs, (done) => {
    const socket = createSocket(isIPv6(recursor.host) ? 'udp6' : 'udp4');
    socket.on('error', () => done(undefined));
    socket.on('message', (message, from) => {
      // Only the recursor asked, with the id it was sent (a spoofed answer must guess both).
      if (from.port !== recursor.port || from.address !== recursor.host) return;
      if (message.length < 12 || message.readUInt16BE(0) !== id) return;
      done(message);
    });
    socket.send(query, recursor.port, recursor.host);
    return () => socket.close();
  });

const askTcp: Ask = (recursor, query, id, timeoutMs) =>
  answerWithin(timeoutMs, (done) => {
    const socket = connect({ host: recursor.host, port: recursor.port });
    let received = Buffer.alloc(0);
    socket.on('error', () => done(undefined));
    socket.on('close', () => done(undefined));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 2) return;
      const length = received.readUInt16BE(0);
      if (received.length < 2 + length) return;
      const message = received.subarray(2, 2 + length);
      done(message.length >= 12 && message.readUInt16BE(0) === id ? Buffer.from(message) : undefined);
    });
    const framed = Buffer.alloc(2 + query.length);
    framed.writeUInt16BE(query.length, 0);
    query.copy(framed, 2);
    socket.write(framed);
    return () => socket.destroy();
  });
