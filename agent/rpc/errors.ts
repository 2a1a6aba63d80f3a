// Errors of the cluster RPC channel: one class with a code callers can branch on (retry another
// member on 'unreachable' or 'busy', give up on 'refused') and a message an operator can act on.

export type ClusterRpcErrorCode =
  /** start() was not called, or stop() was. */
  | 'not-started'
  /** The options or the target are unusable (bad address, port, peer id, size). */
  | 'invalid'
  /** The listener could not be opened (port taken, address not on this host). */
  | 'listen-failed'
  /** Nothing answered at the address (connection refused, host unreachable). */
  | 'unreachable'
  /** A connection was made but the handshake failed: another cluster key, or another peer id. */
  | 'handshake-failed'
  /** The remote turned the connection away at a limit of connections in their handshake; retry later. */
  | 'busy'
  /** The remote does not serve the protocol, or refused the request (too large, malformed). */
  | 'refused'
  /** The remote handler threw; the message carries its error. */
  | 'handler-failed'
  /** A request or response exceeds maxMessageBytes. */
  | 'too-large'
  /** No answer within the timeout; the stream was aborted. */
  | 'timeout'
  /** The stream broke mid-exchange (reset, closed early, bytes that are not a frame). */
  | 'stream-failed';

export class ClusterRpcError extends Error {
  override readonly name = 'ClusterRpcError';

  constructor(
    readonly code: ClusterRpcErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Anything thrown, as an Error (libp2p's abort() wants one). */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
