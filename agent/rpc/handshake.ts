// The first step of a cluster RPC connection when a cluster key is set: the private-network nonce
// exchange (@libp2p/pnet), under a deadline, failing with an error that says what the remote did:
// turned us away at a limit (it sends a short note, see refusalNote), said nothing in time, or
// closed without a nonce (no cluster key there, or not an opsbro agent). Failures after the
// exchange happen inside the encrypted channel; between keyed nodes they mean the keys differ.
import type { ConnectionProtector, MessageStream, StreamMessageEvent } from '@libp2p/interface';

/** What the exchange reads from each side before anything else; a refusal note is shorter. */
const NONCE_BYTES = 24;
const NOTE_PREFIX = 'opsbro-busy';

/**
 * Which pending-connection limit refused a connection (pending-inbound.ts): its source's, or the
 * total (every slot taken, and its source already holds as many as any other).
 */
export type RefusalReason = 'address' | 'total';

/**
 * What a node sends instead of its nonce when it refuses a connection at a limit, then closes:
 * "opsbro-busy a 16\n" (a: per address, t: in total). Shorter than a nonce, so a dialer never
 * takes one for the other.
 */
export function refusalNote(
  reason: RefusalReason,
  limits: { perAddress: number; total: number },
): Uint8Array {
  const limit = reason === 'address' ? limits.perAddress : limits.total;
  const text = `${NOTE_PREFIX} ${reason === 'address' ? 'a' : 't'} ${limit}\n`;
  const note = new TextEncoder().encode(text);
  return note.byteLength < NONCE_BYTES ? note : new TextEncoder().encode(`${NOTE_PREFIX} ${reason[0]}\n`);
}

/** What a refusal note says: which limit, and its value when the note had room for it. */
export interface RefusalNote {
  reason: RefusalReason;
  limit?: number;
}

export function parseRefusalNote(bytes: Uint8Array): RefusalNote | undefined {
  if (bytes.byteLength >= NONCE_BYTES) return undefined;
  const match = /^opsbro-busy ([at])(?: (\d+))?\n$/.exec(new TextDecoder('latin1').decode(bytes));
  if (!match) return undefined;
  return {
    reason: match[1] === 'a' ? 'address' : 'total',
    ...(match[2] === undefined ? {} : { limit: Number(match[2]) }),
  };
}

export type HandshakeFailureKind =
  /** The remote refused the connection at a limit of pending connections (it said so). */
  | 'refused'
  /** The remote sent no nonce within the deadline. */
  | 'timeout'
  /** The remote closed the connection without a nonce: no cluster key there, or not an opsbro agent. */
  | 'no-private-network';

/** The private-network exchange failed; `kind` says how. Explained to operators in failures.ts. */
export class HandshakeError extends Error {
  override readonly name = 'HandshakeError';

  constructor(
    readonly kind: HandshakeFailureKind,
    message: string,
    readonly details: {
      /** Bytes the remote sent before the exchange failed. */
      receivedBytes: number;
      deadlineMs: number;
      refusal: RefusalNote | undefined;
    },
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Wraps the pnet protector: the nonce exchange must end within `deadlineMs` (a dialer would
 * otherwise wait for its whole request timeout; on inbound connections libp2p's upgrade deadline
 * is shorter and comes first), and a failure becomes a HandshakeError. The caller's own abort
 * (request timeout, stop) is rethrown as it is: the caller explains it.
 */
export function guardedProtector(inner: ConnectionProtector, deadlineMs: number): ConnectionProtector {
  return {
    async protect(connection: MessageStream, options) {
      const firstBytes = new Uint8Array(NONCE_BYTES);
      let receivedBytes = 0;
      // Only watches: the exchange's own reader (added synchronously by inner.protect below) takes
      // the data, so nothing is dispatched to this listener alone.
      const onMessage = (event: StreamMessageEvent): void => {
        const chunks = event.data instanceof Uint8Array ? [event.data] : event.data;
        for (const chunk of chunks) {
          if (receivedBytes < NONCE_BYTES) {
            firstBytes.set(chunk.subarray(0, NONCE_BYTES - receivedBytes), receivedBytes);
          }
          receivedBytes += chunk.byteLength;
        }
      };
      const deadline = AbortSignal.timeout(deadlineMs);
      const signal = options?.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
      connection.addEventListener('message', onMessage);
      try {
        return await inner.protect(connection, { ...options, signal });
      } catch (error) {
        if (options?.signal?.aborted) throw error;
        const fail = (kind: HandshakeFailureKind, message: string, refusal?: RefusalNote): HandshakeError =>
          new HandshakeError(kind, message, { receivedBytes, deadlineMs, refusal }, { cause: error });
        if (deadline.aborted) {
          const got = receivedBytes === 0 ? 'nothing' : `only ${receivedBytes} of ${NONCE_BYTES} bytes`;
          throw fail('timeout', `no private-network nonce within ${deadlineMs} ms (got ${got})`);
        }
        const refusal = parseRefusalNote(firstBytes.subarray(0, Math.min(receivedBytes, NONCE_BYTES)));
        if (refusal) throw fail('refused', 'refused at a limit of pending connections', refusal);
        throw fail(
          'no-private-network',
          `closed after ${receivedBytes} bytes, without a private-network nonce`,
        );
      } finally {
        connection.removeEventListener('message', onMessage);
      }
    },
  };
}
