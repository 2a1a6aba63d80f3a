// Turns what libp2p and the OS throw into ClusterRpcErrors whose message says what failed, where,
// and what to check. libp2p wraps socket errors in its own, so this looks through the whole chain.
import { messageOf } from '../shared/errors.js';
import { ClusterRpcError, type ClusterRpcErrorCode } from './errors.js';
import { HandshakeError } from './handshake.js';
import { INBOUND_CONNECTIONS_PER_SECOND } from './limits.js';

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

/** Whether a request failed because the remote does not serve its protocol (an older agent). */
export function isNotServed(error: unknown): boolean {
  return (
    error instanceof ClusterRpcError &&
    error.code === 'refused' &&
    chainOf(error).some((link) => link.name === 'UnsupportedProtocolError')
  );
}

/**
 * What a failed request ran into, from the error libp2p threw. The handshake's failures are told
 * apart by where they happened: refused at a limit, no answer within the deadline, no private
 * network on the other side (handshake.ts says which); a failure after the private-network
 * exchange between two keyed nodes means the remote could not read us: the keys differ.
 */
export function explainRequestFailure(
  error: unknown,
  context: {
    protocol: string;
    where: string;
    phase: RequestPhase;
    peerId: string | undefined;
    /** This node has a cluster key (runs the private network). */
    keyed: boolean;
  },
): ClusterRpcError {
  const { protocol, where, phase, peerId, keyed } = context;
  const chain = chainOf(error);
  const has = (name: string): boolean => chain.some((link) => link.name === name);
  const errno = chain.find((link) => link.code !== undefined);
  const code = errno?.code;
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
  const handshake = chain.map((link) => link.error).find((link) => link instanceof HandshakeError);
  if (handshake) return explainHandshakeError(handshake, where, error);
  if (code === 'ECONNREFUSED') {
    return fail(
      'unreachable',
      `nothing listens on ${where} (connection refused); is the agent running there, with this rpc port?`,
    );
  }
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ETIMEDOUT' || code === 'EADDRNOTAVAIL') {
    return fail('unreachable', `${where} is unreachable (${code}); check the address and the network path`);
  }
  if (code === 'ECONNRESET' && errno?.syscall === 'connect') {
    // Reset before our side saw the TCP connection complete, so before any byte. Not our gater:
    // it refuses with a note and a graceful close (a note makes this a HandshakeError), and
    // aborts only the oldest connection of a source to give its slot to a newcomer, rarely one
    // just accepted. libp2p's own limits reset at once; so does a firewall rule that rejects with
    // a TCP reset, and nothing tells the two apart from here.
    return fail(
      'busy',
      `${where} reset the connection as soon as it was accepted, before any handshake: either the agent there turned it away at one of libp2p's limits (over ${INBOUND_CONNECTIONS_PER_SECOND} new connections a second from this address, or too many connections in their handshake), or a firewall on the way rejects it with a TCP reset (e.g. iptables REJECT --reject-with tcp-reset); retry later, and check the firewall rules for the rpc port if it keeps happening`,
    );
  }
  const brokeMidHandshake =
    has('EncryptionFailedError') ||
    has('InvalidCryptoExchangeError') ||
    has('UnexpectedEOFError') ||
    code === 'ECONNRESET' ||
    code === 'EPIPE';
  if (phase === 'connect' && brokeMidHandshake && keyed) {
    // Past the nonce exchange (a failure there is a HandshakeError), inside the private network:
    // a remote with another key reads noise from us and drops the connection.
    return fail(
      'handshake-failed',
      `handshake with ${where} failed after the private-network exchange (${detail}): the two nodes do not have the same cluster key`,
    );
  }
  if (phase === 'connect' && brokeMidHandshake) {
    // This node has no key: a keyed remote answers with its nonce, which reads as garbage here.
    return fail(
      'handshake-failed',
      `handshake with ${where} failed (${detail}): it has a cluster key and this node has none, or it turned the connection away (a limit of connections in their handshake)`,
    );
  }
  if (phase === 'connect') {
    return fail('unreachable', `cannot connect to ${where} for ${protocol}: ${detail}`);
  }
  return fail('stream-failed', `${protocol} with ${where} broke off: ${detail}`);
}

function explainHandshakeError(handshake: HandshakeError, where: string, cause: unknown): ClusterRpcError {
  const { receivedBytes, deadlineMs, refusal } = handshake.details;
  switch (handshake.kind) {
    case 'refused': {
      const limit = refusal?.limit === undefined ? '' : ` (${refusal.limit})`;
      const which =
        refusal?.reason === 'address'
          ? `too many connections from this node's address (shared by the agents on this host, behind the same NAT, or in the same IPv6 /64) are in their handshake there, over its per-address limit${limit}`
          : `too many connections are in their handshake there, over its limit${limit}, and this node's address already holds as many of them as any other (a flood of connections from this address or network?)`;
      return new ClusterRpcError('busy', `${where} refused the connection: ${which}; retry later`, { cause });
    }
    case 'timeout': {
      const got = receivedBytes === 0 ? 'nothing' : `only ${receivedBytes} bytes`;
      return new ClusterRpcError(
        'timeout',
        `handshake with ${where} timed out: it accepted the TCP connection but sent ${got} within ${deadlineMs} ms instead of starting the private-network handshake (overloaded, or not an opsbro agent)`,
        { cause },
      );
    }
    case 'no-private-network':
      return new ClusterRpcError(
        'handshake-failed',
        `${where} closed the connection without starting the private-network handshake (${receivedBytes} bytes, no nonce): it has no cluster key while this node has one, is not an opsbro agent, or turned away a burst of new connections from this address (over ${INBOUND_CONNECTIONS_PER_SECOND} a second)`,
        { cause },
      );
  }
}

interface ChainLink {
  /** The thrown value itself, for the classes a link's name cannot tell (HandshakeError). */
  error: unknown;
  name: string;
  message: string;
  code: string | undefined;
  /** The system call that failed, for OS errors ('connect', 'read', ...). */
  syscall: string | undefined;
}

/** The error, its causes, and the members of any AggregateError, flattened (bounded depth). */
function chainOf(error: unknown, depth = 0): ChainLink[] {
  if (depth > 6 || error === undefined || error === null) return [];
  if (!(error instanceof Error)) {
    return [{ error, name: typeof error, message: messageOf(error), code: undefined, syscall: undefined }];
  }
  const { code: rawCode, syscall } = error as NodeJS.ErrnoException;
  const link: ChainLink = {
    error,
    name: error.name,
    message: error.message,
    code: typeof rawCode === 'string' ? rawCode : undefined,
    syscall: typeof syscall === 'string' ? syscall : undefined,
  };
  const nested = error instanceof AggregateError ? (error.errors as unknown[]) : [];
  return [link, ...chainOf(error.cause, depth + 1), ...nested.flatMap((inner) => chainOf(inner, depth + 1))];
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? text;
}
