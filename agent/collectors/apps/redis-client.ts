// A minimal Redis client over node:net for the redis collector: one connection, RESP2 commands sent
// as arrays of bulk strings, replies parsed in order. Enough for AUTH, PING and INFO; no dependency.
//
// Whatever answers on the port is a stranger until proven otherwise: replies are bounded (size,
// nesting, element count, well-formed lengths), so a server sending an endless bulk string ends the
// run with an error at 1 MiB instead of growing the agent.
import { type Socket, createConnection } from 'node:net';

import { formatBytes } from '../../shared/format.js';
import { abortReason } from './common.js';

/** The largest reply kept (INFO is a few KiB; a redis with thousands of databases, tens of KiB). */
export const MAX_REPLY_BYTES = 1024 * 1024;
/** Arrays inside arrays: none of our commands answers with more than one level. */
const MAX_REPLY_DEPTH = 8;
/** Error replies are shown to operators: the first characters say it. */
const MAX_ERROR_CHARS = 200;

/** A parsed RESP2 reply (error replies reject the command with RedisReplyError instead). */
export type RespValue = string | number | null | RespValue[];

/** An error reply of the server (`-ERR ...`, `-NOAUTH ...`, `-WRONGPASS ...`), cut to 200 characters. */
export class RedisReplyError extends Error {
  override readonly name = 'RedisReplyError';

  constructor(line: string) {
    super(line.length > MAX_ERROR_CHARS ? `${line.slice(0, MAX_ERROR_CHARS)}…` : line);
  }
}

/** A reply that breaks the protocol or a bound: the connection is closed. */
class ProtocolError extends Error {}

/** Where the server listens: a unix socket path when set, else host:port. */
export interface RedisEndpoint {
  host: string;
  port: number;
  socketPath?: string;
}

interface PendingReply {
  resolve: (value: RespValue) => void;
  reject: (error: Error) => void;
}

const CRLF = Buffer.from('\r\n');

/** Encodes one command as a RESP array of bulk strings (binary-safe: a password may hold anything). */
function encodeCommand(args: readonly string[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.from(arg, 'utf8');
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, CRLF);
  }
  return Buffer.concat(parts);
}

/** The outcome of parsing one reply at `offset`: the value (or server error) and where the next one starts. */
type Parsed = { value: RespValue | RedisReplyError; next: number };

/** A length or count of a reply header: -1 (null) or a non-negative integer, else a protocol error. */
function headerNumber(line: string, what: string): number {
  if (!/^(-1|\d{1,15})$/.test(line)) {
    throw new ProtocolError(
      `the server sent a malformed ${what} (${JSON.stringify(line.slice(0, 20))}): is this a redis server?`,
    );
  }
  return Number(line);
}

/** Parses one RESP2 reply from `buffer` at `offset`; undefined while incomplete. */
function parseReply(buffer: Buffer, offset = 0, depth = 0): Parsed | undefined {
  if (depth > MAX_REPLY_DEPTH) {
    throw new ProtocolError(
      `the server sent arrays nested more than ${MAX_REPLY_DEPTH} deep: is this a redis server?`,
    );
  }
  const lineEnd = buffer.indexOf(CRLF, offset);
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buffer[offset] ?? 0);
  const line = buffer.toString('utf8', offset + 1, lineEnd);
  const afterLine = lineEnd + 2;
  switch (type) {
    case '+':
      return { value: line, next: afterLine };
    case '-':
      return { value: new RedisReplyError(line), next: afterLine };
    case ':':
      return { value: Number(line), next: afterLine };
    case '$': {
      const length = headerNumber(line, 'bulk string length');
      if (length < 0) return { value: null, next: afterLine };
      // Announced too large: no need to wait for the bytes to refuse it.
      if (length > MAX_REPLY_BYTES) throw tooLarge(`a reply of ${length} bytes announced`);
      if (buffer.length < afterLine + length + 2) return undefined;
      return { value: buffer.toString('utf8', afterLine, afterLine + length), next: afterLine + length + 2 };
    }
    case '*': {
      const count = headerNumber(line, 'array length');
      if (count < 0) return { value: null, next: afterLine };
      // Each element takes 3 bytes at least (`:1\r\n` is 4): more cannot fit in the bound.
      if (count > MAX_REPLY_BYTES / 3) throw tooLarge(`an array of ${count} elements announced`);
      const items: RespValue[] = [];
      let next = afterLine;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buffer, next, depth + 1);
        if (!item) return undefined;
        // An error inside an array (EXEC) is kept as its message: INFO/PING never produce one.
        items.push(item.value instanceof RedisReplyError ? item.value.message : item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default:
      throw new ProtocolError(
        `unexpected reply from the server (${JSON.stringify(buffer.toString('utf8', offset, Math.min(buffer.length, offset + 40)))}): is this a redis server?`,
      );
  }
}

function tooLarge(what: string): ProtocolError {
  return new ProtocolError(
    `${what}, more than the ${formatBytes(MAX_REPLY_BYTES)} a reply may take: is this a redis server?`,
  );
}

/**
 * One connection to a Redis server. Commands are pipelined and answered in order. A command aborted
 * mid-flight destroys the connection (its reply would arrive later and desynchronize the next ones):
 * the owner connects again on its next run.
 */
export class RedisConnection {
  private buffer: Buffer = Buffer.alloc(0);
  private readonly pending: PendingReply[] = [];
  /** Why the connection is unusable, once it is. */
  private closedReason?: Error;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('connection closed by the server')));
  }

  /** Opens a connection; rejects with the socket error (errno code kept) or the abort reason. */
  static connect(endpoint: RedisEndpoint, signal: AbortSignal): Promise<RedisConnection> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(new Error(abortReason(signal)));
        return;
      }
      const socket = endpoint.socketPath
        ? createConnection({ path: endpoint.socketPath })
        : createConnection({ host: endpoint.host, port: endpoint.port });
      const onAbort = (): void => {
        socket.destroy();
        reject(new Error(abortReason(signal)));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('error', (error) => {
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        reject(error);
      });
      socket.once('connect', () => {
        signal.removeEventListener('abort', onAbort);
        socket.setNoDelay(true);
        socket.removeAllListeners('error');
        resolve(new RedisConnection(socket));
      });
    });
  }

  /** Whether commands can still be sent. */
  get usable(): boolean {
    return !this.closedReason && !this.socket.destroyed;
  }

  /** Sends one command; resolves with its reply, rejects with RedisReplyError, a socket error or the abort reason. */
  command(args: readonly string[], signal: AbortSignal): Promise<RespValue> {
    if (this.closedReason) return Promise.reject(this.closedReason);
    if (signal.aborted) return Promise.reject(new Error(abortReason(signal)));
    return new Promise<RespValue>((resolve, reject) => {
      const onAbort = (): void => {
        const reason = new Error(abortReason(signal));
        reject(reason);
        this.fail(reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.pending.push({
        resolve: (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        reject: (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      });
      this.socket.write(encodeCommand(args));
    });
  }

  /** Closes the connection (QUIT is not worth a round trip: the server cleans up on close). */
  close(): void {
    this.fail(new Error('connection closed'));
  }

  private onData(chunk: Buffer): void {
    if (this.closedReason) return;
    // Unparsed bytes past the bound: a reply that never ends (a line without CRLF, a bulk string
    // whose bytes keep coming). Refused before the copy, so the buffer never holds more.
    if (this.buffer.length + chunk.length > MAX_REPLY_BYTES + 64) {
      this.fail(tooLarge(`a reply of more than ${MAX_REPLY_BYTES} bytes`));
      return;
    }
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    let offset = 0;
    try {
      for (;;) {
        const parsed = parseReply(this.buffer, offset);
        if (!parsed) break;
        offset = parsed.next;
        const waiter = this.pending.shift();
        if (!waiter) throw new Error('the server sent a reply nobody asked for');
        if (parsed.value instanceof RedisReplyError) waiter.reject(parsed.value);
        else waiter.resolve(parsed.value);
      }
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.buffer = offset >= this.buffer.length ? Buffer.alloc(0) : this.buffer.subarray(offset);
  }

  private fail(reason: Error): void {
    this.closedReason ??= reason;
    this.socket.destroy();
    for (const waiter of this.pending.splice(0)) waiter.reject(reason);
  }
}
