// The cluster RPC wire format inside one libp2p stream: the caller sends one request frame and
// half-closes; the callee answers with one frame (ok, handler error, or refusal) and closes.
// A frame is a 5-byte header - kind (1 byte), body length (4 bytes, big-endian) - then the body.
// The receiver checks the length against its limit as soon as the header is in, so an oversized
// body is refused before any of it is kept; the body buffer is allocated once, at its exact size.

export const FRAME_HEADER_BYTES = 5;

/** The largest body length the 4-byte header can carry. */
export const MAX_FRAME_BODY_BYTES = 0xffff_ffff;

/** request: caller to callee. ok: the handler's response. handler-error: the handler threw.
 * refused: the callee would not run the handler (request too large, malformed). */
export type FrameKind = 'request' | 'ok' | 'handler-error' | 'refused';

export const kindCodes: Record<FrameKind, number> = { request: 1, ok: 2, 'handler-error': 3, refused: 4 };
export const kindsByCode = new Map<number, FrameKind>(
  Object.entries(kindCodes).map(([kind, code]) => [code, kind as FrameKind]),
);

export interface Frame {
  kind: FrameKind;
  body: Uint8Array;
}

/** The header announces a body larger than the receiver accepts. */
export class FrameTooLargeError extends Error {
  override readonly name = 'FrameTooLargeError';

  constructor(
    readonly kind: FrameKind,
    readonly declaredBytes: number,
    readonly limitBytes: number,
  ) {
    super(`a ${kind} of ${declaredBytes} bytes exceeds the limit of ${limitBytes} bytes`);
  }
}

/** The bytes are not one well-formed frame (unknown kind, data past the end). */
export class FrameFormatError extends Error {
  override readonly name = 'FrameFormatError';
}

export function encodeFrameHeader(kind: FrameKind, bodyBytes: number): Uint8Array {
  if (!Number.isInteger(bodyBytes) || bodyBytes < 0 || bodyBytes > MAX_FRAME_BODY_BYTES) {
    throw new RangeError(`frame body length ${bodyBytes} is outside 0..${MAX_FRAME_BODY_BYTES}`);
  }
  const header = new Uint8Array(FRAME_HEADER_BYTES);
  const view = new DataView(header.buffer);
  view.setUint8(0, kindCodes[kind]);
  view.setUint32(1, bodyBytes, false);
  return header;
}

/**
 * Reassembles one frame from the chunks a stream delivers. Holds at most the 5 header bytes plus
 * the announced body (itself at most maxBodyBytes); throws as soon as the input cannot be a frame
 * within the limit.
 */
export class FrameDecoder {
  private readonly header = new Uint8Array(FRAME_HEADER_BYTES);
  private headerBytes = 0;
  private kind: FrameKind | undefined;
  private body: Uint8Array | undefined;
  private bodyBytes = 0;
  private done = false;
  /** Bytes accepted so far, for error messages about truncated input. */
  receivedBytes = 0;

  constructor(private readonly maxBodyBytes: number) {}

  /** Feeds the next chunk; returns the frame when this chunk completes it. */
  push(chunk: Uint8Array): Frame | undefined {
    if (chunk.byteLength === 0) return undefined;
    if (this.done) throw new FrameFormatError(`${chunk.byteLength} unexpected bytes after the message`);
    let offset = 0;
    if (this.headerBytes < FRAME_HEADER_BYTES) {
      const take = Math.min(FRAME_HEADER_BYTES - this.headerBytes, chunk.byteLength);
      this.header.set(chunk.subarray(0, take), this.headerBytes);
      this.headerBytes += take;
      offset = take;
      if (this.headerBytes < FRAME_HEADER_BYTES) {
        this.receivedBytes += take;
        return undefined;
      }
      this.startBody();
    }
    const body = this.body as Uint8Array;
    const take = Math.min(body.byteLength - this.bodyBytes, chunk.byteLength - offset);
    body.set(chunk.subarray(offset, offset + take), this.bodyBytes);
    this.bodyBytes += take;
    offset += take;
    this.receivedBytes += offset;
    if (this.bodyBytes < body.byteLength) return undefined;
    this.done = true;
    if (offset < chunk.byteLength) {
      throw new FrameFormatError(`${chunk.byteLength - offset} unexpected bytes after the message`);
    }
    return { kind: this.kind as FrameKind, body };
  }

  private startBody(): void {
    const view = new DataView(this.header.buffer);
    const kind = kindsByCode.get(view.getUint8(0));
    if (kind === undefined) {
      throw new FrameFormatError(`unknown frame kind ${view.getUint8(0)} (not an opsbro RPC peer?)`);
    }
    const length = view.getUint32(1, false);
    if (length > this.maxBodyBytes) throw new FrameTooLargeError(kind, length, this.maxBodyBytes);
    this.kind = kind;
    this.body = new Uint8Array(length);
  }
}

/** An error frame's body: the message as UTF-8, capped so it always fits the peer's limit. */
export function encodeErrorBody(message: string, maxBytes = 2048): Uint8Array {
  const bytes = new TextEncoder().encode(message);
  return bytes.byteLength <= maxBytes ? bytes : bytes.subarray(0, maxBytes);
}

export function decodeErrorBody(body: Uint8Array): string {
  return new TextDecoder('utf-8', { fatal: false }).decode(body);
}
