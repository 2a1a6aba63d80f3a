// Turns what libp2p and the OS throw into ClusterRpcErrors whose message says what failed, where,
// and what to check. libp2p wraps socket errors in its own, so this looks through the whole chain.
import { messageOf } from '../errors.js';
import { ClusterRpcError, type ClusterRpcErrorCode } from './errors.js';

/** Where a request was when it failed: waiting for a slot, dialing, opening the stream, or talking. */
export type RequestPhase = 'queue' | 'connect' | 'negotiate' | 'exchange';

/** Why a listener could not open, from the errno libp2p quotes in its message. */
export function explainListenFailure(error: unknown, where: string): ClusterRpcError {
  const text = chainOf(error)
    .map((link) => `${link.code ?? ''} ${link.message}`)
    .join('\n');
  let reason: string;
  if (text.includes('EADDRINUSE')) {
    reason =
      'the port is already in use (another agent or program holds it); stop it, or choose another rpc port';
  } else if (text.includes('EADDRNOTAVAIL')) {
    reason = 'the address does not belong to this host; check bind_addr';
  } else if (text.includes('EACCES')) {
    reason =
      'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE); choose another rpc port';
  } else {
    reason = firstLine(chainOf(error)[0]?.message ?? String(error));
  }
  return new ClusterRpcError('listen-failed', `cluster RPC cannot listen on ${where}: ${reason}`, {
    cause: error,
  });
}

export function explainRequestFailure(
  error: unknown,
  context: { protocol: string; where: string; phase: RequestPhase; peerId: string | undefined },
): ClusterRpcError {
  const { protocol, where, phase, peerId } = context;
  const chain = chainOf(error);
  const has = (name: string): boolean => chain.some((link) => link.name === name);
  const code = chain.find((link) => link.code !== undefined)?.code;
  const detail = chain.map((link) => link.message).find((message) => message !== '') ?? 'unknown error';
  const fail = (errorCode: ClusterRpcErrorCode, message: string): ClusterRpcError =>
    new ClusterRpcError(errorCode, message, { cause: error });

  if (has('UnsupportedProtocolError')) {
    return fail(
      'refused',
      `${where} does not serve ${protocol} (an agent without it, or not an opsbro agent)`,
    );
  }
  const messages = chain.map((link) => link.message).join('\n');
  if (/dial self/i.test(messages)) {
    return fail('invalid', `${where} (${peerId ?? 'no peer id'}) is this node itself`);
  }
  if (has('UnexpectedPeerError') || /does not match expected remote/i.test(messages)) {
    return fail(
      'handshake-failed',
      `${where} is not peer ${peerId ?? '(unknown)'}: ${detail}; another agent may now hold that address`,
    );
  }
  if (has('EncryptionFailedError') || has('InvalidCryptoExchangeError')) {
    return fail(
      'handshake-failed',
      `handshake with ${where} failed (${detail}): the two nodes do not have the same cluster key, or one has none`,
    );
  }
  if (code === 'ECONNREFUSED') {
    return fail(
      'unreachable',
      `nothing listens on ${where} (connection refused); is the agent running there, with this rpc port?`,
    );
  }
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ETIMEDOUT' || code === 'EADDRNOTAVAIL') {
    return fail('unreachable', `${where} is unreachable (${code}); check the address and the network path`);
  }
  if (phase === 'connect' && (code === 'ECONNRESET' || code === 'EPIPE')) {
    // A TCP connection was made, then dropped mid-upgrade: what a key mismatch usually looks like.
    return fail(
      'handshake-failed',
      `${where} dropped the connection during the handshake (${code}): most likely the two nodes do not have the same cluster key, or one has none`,
    );
  }
  if (phase === 'connect') {
    return fail('unreachable', `cannot connect to ${where} for ${protocol}: ${detail}`);
  }
  return fail('stream-failed', `${protocol} with ${where} broke off: ${detail}`);
}

interface ChainLink {
  name: string;
  message: string;
  code: string | undefined;
}

/** The error, its causes, and the members of any AggregateError, flattened (bounded depth). */
function chainOf(error: unknown, depth = 0): ChainLink[] {
  if (depth > 6 || error === undefined || error === null) return [];
  if (!(error instanceof Error)) return [{ name: typeof error, message: messageOf(error), code: undefined }];
  const rawCode = (error as NodeJS.ErrnoException).code;
  const link: ChainLink = {
    name: error.name,
    message: error.message,
    code: typeof rawCode === 'string' ? rawCode : undefined,
  };
  const nested = error instanceof AggregateError ? (error.errors as unknown[]) : [];
  return [link, ...chainOf(error.cause, depth + 1), ...nested.flatMap((inner) => chainOf(inner, depth + 1))];
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? text;
}
