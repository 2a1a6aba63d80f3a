// Moves one frame out of or into a libp2p stream: writing honours backpressure, reading feeds a
// FrameDecoder straight from the stream's message events (nothing is queued beyond the frame),
// and both give up when the abort signal fires.
import type { Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface';
import { asError } from './errors.js';
import { encodeFrameHeader, FrameDecoder, type Frame, type FrameKind } from './framing.js';

/** The stream ended or broke before a whole frame arrived. */
export class StreamEndedError extends Error {
  override readonly name = 'StreamEndedError';
}

export async function writeFrame(
  stream: Stream,
  kind: FrameKind,
  body: Uint8Array,
  signal: AbortSignal,
): Promise<void> {
  signal.throwIfAborted();
  if (!stream.send(encodeFrameHeader(kind, body.byteLength))) await stream.onDrain({ signal });
  if (body.byteLength > 0 && !stream.send(body)) await stream.onDrain({ signal });
}

/**
 * Reads one frame. Listens from the moment it is called, so start it before writing when the
 * remote may answer early (a refusal sent while our request is still going out).
 */
export function readFrame(stream: Stream, maxBodyBytes: number, signal: AbortSignal): Promise<Frame> {
  return new Promise<Frame>((resolve, reject) => {
    const decoder = new FrameDecoder(maxBodyBytes);
    let settled = false;

    const finish = (outcome: { frame: Frame } | { error: unknown }): void => {
      if (settled) return;
      settled = true;
      stream.removeEventListener('message', onMessage);
      stream.removeEventListener('end', onEnd);
      stream.removeEventListener('close', onClose);
      signal.removeEventListener('abort', onAbort);
      if ('frame' in outcome) resolve(outcome.frame);
      else reject(asError(outcome.error));
    };

    const onMessage = (event: StreamMessageEvent): void => {
      if (settled) return;
      const chunks = event.data instanceof Uint8Array ? [event.data] : event.data;
      try {
        let frame: Frame | undefined;
        for (const chunk of chunks) {
          // A second frame or trailing bytes make push() throw, which is what we want.
          frame = decoder.push(chunk) ?? frame;
        }
        if (frame) finish({ frame });
      } catch (error) {
        finish({ error });
      }
    };
    const onEnd = (): void => {
      finish({ error: new StreamEndedError(endedMessage('the remote closed the stream', decoder)) });
    };
    const onClose = (event: StreamCloseEvent): void => {
      const reason = event.error ? `${event.error.message || event.error.name}` : 'the stream closed';
      finish({ error: new StreamEndedError(endedMessage(reason, decoder), { cause: event.error }) });
    };
    const onAbort = (): void => {
      finish({ error: signal.reason });
    };

    if (signal.aborted) {
      finish({ error: signal.reason });
      return;
    }
    signal.addEventListener('abort', onAbort);
    stream.addEventListener('close', onClose);
    stream.addEventListener('end', onEnd);
    // Adding the message listener makes the stream deliver anything it buffered before we came.
    stream.addEventListener('message', onMessage);
    if (stream.readableEnded && stream.readBufferLength === 0) onEnd();
  });
}

function endedMessage(reason: string, decoder: FrameDecoder): string {
  return decoder.receivedBytes === 0
    ? `${reason} before sending anything`
    : `${reason} after ${decoder.receivedBytes} bytes, before a complete message`;
}
