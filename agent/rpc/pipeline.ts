// Pipelined protocols: one long-lived stream per connection carries many requests and their
// responses, each frame tagged with the request's id, answered in any order. A plain protocol
// opens a stream per request (yamux stream, protocol negotiation, half-closes): measured on the
// KV store's replication as most of a node's CPU (docs/benchmarks.md, KV). Frames here are the
// plain ones (framing.ts) with the id between kind and length: kind (1 byte), id (4 bytes),
// body length (4 bytes), body. An oversized body is refused by id and skipped, not kept.
import type { Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface';
import { asError } from './errors.js';
import { FrameFormatError, kindCodes, kindsByCode, type FrameKind } from './framing.js';
import { StreamEndedError } from './stream-io.js';

export const TAGGED_HEADER_BYTES = 9;

export interface TaggedFrame {
  kind: FrameKind;
  id: number;
  body: Uint8Array;
  /** The body's declared size when it was over the limit (then `body` is empty: skipped). */
  oversized?: number;
}

export function encodeTaggedFrame(kind: FrameKind, id: number, body: Uint8Array): Uint8Array {
  // One buffer: one stream.send(), one yamux frame, one encrypted write.
  const frame = new Uint8Array(TAGGED_HEADER_BYTES + body.byteLength);
  const view = new DataView(frame.buffer);
  view.setUint8(0, kindCodes[kind]);
  view.setUint32(1, id >>> 0, false);
  view.setUint32(5, body.byteLength, false);
  frame.set(body, TAGGED_HEADER_BYTES);
  return frame;
}

/** Reassembles tagged frames from a stream's chunks; holds at most one header and one body. */
export class TaggedFrameDecoder {
  private readonly header = new Uint8Array(TAGGED_HEADER_BYTES);
  private headerBytes = 0;
  private current: TaggedFrame | undefined;
  private filled = 0;
  /** Bytes of an oversized body still to skip. */
  private skipping = 0;

  constructor(private readonly maxBodyBytes: number) {}

  /** The frames this chunk completes (throws on bytes that cannot be a frame). */
  push(chunk: Uint8Array): TaggedFrame[] {
    const frames: TaggedFrame[] = [];
    let offset = 0;
    while (offset < chunk.byteLength) {
      if (this.skipping > 0) {
        const take = Math.min(this.skipping, chunk.byteLength - offset);
        this.skipping -= take;
        offset += take;
        continue;
      }
      if (!this.current) {
        const take = Math.min(TAGGED_HEADER_BYTES - this.headerBytes, chunk.byteLength - offset);
        this.header.set(chunk.subarray(offset, offset + take), this.headerBytes);
        this.headerBytes += take;
        offset += take;
        if (this.headerBytes < TAGGED_HEADER_BYTES) break;
        this.headerBytes = 0;
        const frame = this.startFrame();
        if (frame.oversized !== undefined || frame.body.byteLength === 0) {
          this.skipping = frame.oversized ?? 0;
          frames.push(frame);
        } else {
          this.current = frame;
          this.filled = 0;
        }
        continue;
      }
      const body = this.current.body;
      const take = Math.min(body.byteLength - this.filled, chunk.byteLength - offset);
      body.set(chunk.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      if (this.filled === body.byteLength) {
        frames.push(this.current);
        this.current = undefined;
      }
    }
    return frames;
  }

  /** Nothing is half received (a stream may end here cleanly). */
  get atBoundary(): boolean {
    return !this.current && this.headerBytes === 0 && this.skipping === 0;
  }

  private startFrame(): TaggedFrame {
    const view = new DataView(this.header.buffer);
    const kind = kindsByCode.get(view.getUint8(0));
    if (kind === undefined) {
      throw new FrameFormatError(`unknown frame kind ${view.getUint8(0)} (not an opsbro RPC peer?)`);
    }
    const id = view.getUint32(1, false);
    const length = view.getUint32(5, false);
    if (length > this.maxBodyBytes) return { kind, id, body: new Uint8Array(0), oversized: length };
    return { kind, id, body: new Uint8Array(length) };
  }
}

/** The caller's end of a pipelined stream: requests go out tagged, answers are matched by id. */
export class PipelineClient {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (frame: TaggedFrame) => void; reject: (error: Error) => void }
  >();
  private readonly decoder: TaggedFrameDecoder;
  private failure: Error | undefined;
  /** No request was waiting at the last idle sweep. */
  idleSince: number | undefined;
  /** How long the idle sweep leaves it without a request (its protocol's idleMs; else the node's). */
  idleMs: number | undefined;

  constructor(
    private readonly stream: Stream,
    maxBodyBytes: number,
    /** Told once when the stream is gone (the owner forgets this client). */
    private readonly onGone: () => void,
  ) {
    this.decoder = new TaggedFrameDecoder(maxBodyBytes);
    stream.addEventListener('message', (event: StreamMessageEvent) => this.onMessage(event));
    stream.addEventListener('end', () => this.fail(new StreamEndedError('the remote closed the stream')));
    stream.addEventListener('close', (event: StreamCloseEvent) =>
      this.fail(
        new StreamEndedError(event.error ? event.error.message || event.error.name : 'the stream closed', {
          cause: event.error,
        }),
      ),
    );
  }

  /** Requests waiting for their answer. */
  get waiting(): number {
    return this.pending.size;
  }

  get usable(): boolean {
    return this.failure === undefined;
  }

  /** Sends `body` as a request; resolves with the answer frame (ok, handler-error or refused). */
  async exchange(body: Uint8Array, signal: AbortSignal): Promise<TaggedFrame> {
    if (this.failure) throw this.failure;
    signal.throwIfAborted();
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffff_ffff ? 1 : this.nextId + 1;
    this.idleSince = undefined;
    const answer = new Promise<TaggedFrame>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
    });
    // The stream may fail while the request waits for the send buffer to drain, before anything
    // awaits the answer: that rejection is this request's, not an unhandled one (which would stop
    // the agent).
    answer.catch(() => undefined);
    const onAbort = (): void => {
      // A late answer to this id is dropped when it comes.
      const entry = this.pending.get(id);
      this.pending.delete(id);
      entry?.reject(asError(signal.reason));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      // The bytes are queued whatever send() answers; false asks the caller to slow down.
      if (!this.stream.send(encodeTaggedFrame('request', id, body))) await this.stream.onDrain({ signal });
      return await answer;
    } catch (error) {
      this.pending.delete(id);
      throw error;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Closes the stream politely (when idle: answers still due would be lost). */
  close(): void {
    this.fail(new StreamEndedError('the pipelined stream was closed as idle'));
    closeQuietly(this.stream, 'idle stream closed');
  }

  private onMessage(event: StreamMessageEvent): void {
    const chunks = event.data instanceof Uint8Array ? [event.data] : event.data;
    try {
      for (const chunk of chunks) {
        for (const frame of this.decoder.push(chunk)) {
          const entry = this.pending.get(frame.id);
          if (!entry) continue; // timed out meanwhile
          this.pending.delete(frame.id);
          if (frame.oversized !== undefined) {
            entry.reject(new FrameOversizedAnswer(frame.oversized));
          } else entry.resolve(frame);
        }
      }
    } catch (error) {
      this.stream.abort(asError(error));
      this.fail(asError(error));
    }
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    for (const entry of this.pending.values()) entry.reject(error);
    this.pending.clear();
    this.onGone();
  }
}

/** An answer larger than this node accepts (skipped; the request fails, the stream goes on). */
export class FrameOversizedAnswer extends Error {
  override readonly name = 'FrameOversizedAnswer';
  constructor(readonly declaredBytes: number) {
    super(`an answer of ${declaredBytes} bytes`);
  }
}

export interface PipelineServeOptions {
  maxBodyBytes: number;
  /** Requests one stream may have in its handler at once; beyond, the stream stops reading. */
  maxInFlight: number;
  /** The body of an error frame (bounded). */
  errorBody(message: string): Uint8Array;
  /** What the handler answers (or throws) for one request; the stream's remote is bound in. */
  run(request: Uint8Array): Promise<Uint8Array>;
  /** Why a handler's answer cannot be sent as is (too large, not bytes), or undefined. */
  checkAnswer(answer: unknown): string | undefined;
}

/**
 * Serves one pipelined stream until the caller closes it: each request runs as it arrives,
 * answers go back as they are ready. Resolves when the stream is done.
 */
export function servePipeline(stream: Stream, options: PipelineServeOptions): Promise<void> {
  const decoder = new TaggedFrameDecoder(options.maxBodyBytes);
  let inFlight = 0;
  let paused = false;
  let ended = false;
  return new Promise<void>((resolve) => {
    const send = (kind: FrameKind, id: number, body: Uint8Array): void => {
      if (stream.writeStatus !== 'writable') return; // the caller has gone
      try {
        stream.send(encodeTaggedFrame(kind, id, body));
      } catch {
        // closed meanwhile: the caller reports its own failure
      }
    };
    const finishIfDone = (): void => {
      if (ended && inFlight === 0) closeQuietly(stream, 'closing');
    };
    const runOne = async (id: number, body: Uint8Array): Promise<void> => {
      inFlight++;
      if (inFlight >= options.maxInFlight && !paused && stream.readStatus === 'readable') {
        paused = true;
        try {
          stream.pause();
        } catch {
          // closed meanwhile
        }
      }
      try {
        const answer = await options.run(body);
        const problem = options.checkAnswer(answer);
        if (problem) send('handler-error', id, options.errorBody(problem));
        else send('ok', id, answer);
      } catch (error) {
        send('handler-error', id, options.errorBody(asError(error).message));
      } finally {
        inFlight--;
        if (paused && inFlight < options.maxInFlight && stream.readStatus === 'paused') {
          paused = false;
          try {
            stream.resume();
          } catch {
            // closed meanwhile
          }
        }
        finishIfDone();
      }
    };
    stream.addEventListener('message', (event: StreamMessageEvent) => {
      const chunks = event.data instanceof Uint8Array ? [event.data] : event.data;
      try {
        for (const chunk of chunks) {
          for (const frame of decoder.push(chunk)) {
            if (frame.kind !== 'request')
              throw new FrameFormatError(`expected a request, got a ${frame.kind} frame`);
            if (frame.oversized !== undefined) {
              const message = `the request is ${frame.oversized} bytes, over this node's maxMessageBytes (${options.maxBodyBytes})`;
              send('refused', frame.id, options.errorBody(message));
            } else void runOne(frame.id, frame.body);
          }
        }
      } catch (error) {
        stream.abort(asError(error));
      }
    });
    stream.addEventListener('end', () => {
      ended = true;
      finishIfDone();
    });
    stream.addEventListener('close', () => resolve(), { once: true });
  });
}

/**
 * Closes a stream politely, aborting it if that fails; never throws nor leaves a rejection
 * unhandled (a throw in an event listener or an unhandled rejection would stop the agent).
 */
function closeQuietly(stream: Stream, reason: string): void {
  try {
    Promise.resolve(stream.close()).catch(() => stream.abort(new Error(reason)));
  } catch {
    stream.abort(new Error(reason));
  }
}
