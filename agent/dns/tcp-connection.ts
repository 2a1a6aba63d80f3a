// One DNS client over TCP (RFC 7766): messages behind a 2-byte length, several in a row
// (pipelining), each answered when ready. What one connection can make the agent hold is bounded:
// at most MAX_PIPELINED queries read and not yet answered, reading stops while the client leaves
// more than MAX_UNREAD_BYTES of answers unread (until it reads them), a message begun must be
// whole within MESSAGE_DEADLINE_MS, and a connection with nothing under way closes after its idle
// time. Bytes are gathered without copying the whole buffer again at every chunk, so a client
// sending one byte at a time costs what it sends.
import type { Socket } from 'node:net';

export const MAX_PIPELINED = 32;
export const MAX_UNREAD_BYTES = 256 * 1024;
export const MESSAGE_DEADLINE_MS = 5000;
/** The shortest DNS message: its header. A length under it is not DNS: the connection closes. */
const HEADER_BYTES = 12;

export interface TcpConnectionOptions {
  idleMs: number;
  /** How long a message may take to arrive whole once begun (tests shorten it). */
  messageDeadlineMs?: number;
  /** Answers one message (never rejects); undefined: no answer is due. */
  answer: (message: Buffer) => Promise<Buffer | undefined>;
}

export function serveTcpConnection(socket: Socket, options: TcpConnectionOptions): void {
  const chunks: Buffer[] = [];
  let buffered = 0;
  let pending = 0;
  let messageTimer: NodeJS.Timeout | undefined;
  socket.setNoDelay(true);
  socket.setTimeout(options.idleMs, () => socket.destroy());
  socket.on('error', () => {});
  socket.on('close', () => clearTimeout(messageTimer));
  socket.on('drain', () => pump());
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    buffered += chunk.length;
    pump();
  });

  /** The first `count` bytes gathered, as one buffer (joined only as far as needed). */
  function peek(count: number): Buffer {
    if (chunks[0]!.length < count) {
      const joined = Buffer.concat(chunks);
      chunks.length = 0;
      chunks.push(joined);
    }
    return chunks[0]!.subarray(0, count);
  }

  function drop(count: number): void {
    buffered -= count;
    while (count > 0) {
      const first = chunks[0]!;
      if (first.length <= count) {
        chunks.shift();
        count -= first.length;
      } else {
        chunks[0] = first.subarray(count);
        count = 0;
      }
    }
  }

  /** Starts the whole messages gathered, as far as the bounds allow; pauses reading beyond them. */
  function pump(): void {
    if (socket.destroyed) return;
    let consumed = false;
    while (buffered >= 2) {
      if (pending >= MAX_PIPELINED || socket.writableLength > MAX_UNREAD_BYTES) {
        socket.pause();
        return;
      }
      const length = peek(2).readUInt16BE(0);
      if (length < HEADER_BYTES) {
        socket.destroy();
        return;
      }
      if (buffered < 2 + length) break;
      const message = Buffer.from(peek(2 + length).subarray(2));
      drop(2 + length);
      consumed = true;
      start(message);
    }
    // A message begun must be whole soon, counted from its first byte: a client may not hold the
    // connection with a prefix, nor by sending it a byte at a time.
    if (buffered === 0 || consumed) {
      clearTimeout(messageTimer);
      messageTimer = undefined;
    }
    if (buffered > 0 && messageTimer === undefined) {
      messageTimer = setTimeout(() => socket.destroy(), options.messageDeadlineMs ?? MESSAGE_DEADLINE_MS);
    }
    if (socket.isPaused()) socket.resume();
  }

  function start(message: Buffer): void {
    pending++;
    void options.answer(message).then((answer) => {
      pending--;
      if (answer && !socket.destroyed) {
        const framed = Buffer.allocUnsafe(2 + answer.length);
        framed.writeUInt16BE(answer.length, 0);
        answer.copy(framed, 2);
        socket.write(framed);
      }
      pump();
    });
  }
}
