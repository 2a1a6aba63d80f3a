// How the cluster RPC explains a failed request (agent/rpc/failures.ts), from errors shaped like
// the ones libp2p and the OS throw, without sockets: the cases a real connection cannot produce on
// demand (a reset by a firewall, a handshake error buried in libp2p's wrapping).
import { describe, expect, it } from 'vitest';
import { explainRequestFailure } from '../agent/rpc/failures.js';
import { HandshakeError } from '../agent/rpc/handshake.js';

const context = {
  protocol: '/opsbro-test/echo/1.0.0',
  where: '10.0.0.7:6767',
  phase: 'connect' as const,
  peerId: undefined,
  keyed: true,
};

function osError(code: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${syscall} ${code} 10.0.0.7:6767`), { code, syscall });
}

describe('explainRequestFailure', () => {
  it('names both causes of a reset as the connection is accepted: a limit of the agent, or a firewall', () => {
    // libp2p wraps the dial's socket error in its own, inside an AggregateError of the attempts.
    const error = new Error('All multiaddr dials failed', {
      cause: new AggregateError([osError('ECONNRESET', 'connect')], 'dial failed'),
    });
    const explained = explainRequestFailure(error, context);
    expect(explained.code).toBe('busy');
    expect(explained.message).toMatch(/^10\.0\.0\.7:6767 reset the connection as soon as it was accepted/);
    expect(explained.message).toMatch(
      /turned it away at one of libp2p's limits \(over 100 new connections a second/,
    );
    expect(explained.message).toMatch(/or a firewall on the way rejects it with a TCP reset/);
    expect(explained.cause).toBe(error);
  });

  it('finds a handshake error anywhere in the causes and aggregated errors, and explains it', () => {
    const refused = new HandshakeError('refused', 'refused at a limit of pending connections', {
      receivedBytes: 17,
      deadlineMs: 1_500,
      refusal: { reason: 'address', limit: 16 },
    });
    const error = new Error('upgrade failed', {
      cause: new AggregateError([new Error('other attempt'), new Error('wrapped', { cause: refused })]),
    });
    const explained = explainRequestFailure(error, context);
    expect(explained.code).toBe('busy');
    expect(explained.message).toMatch(
      /^10\.0\.0\.7:6767 refused the connection: too many connections from this node's address/,
    );
    expect(explained.message).toMatch(/over its per-address limit \(16\); retry later$/);

    const timedOut = new HandshakeError('timeout', 'no nonce', {
      receivedBytes: 0,
      deadlineMs: 1_500,
      refusal: undefined,
    });
    expect(explainRequestFailure(new AggregateError([timedOut]), context).code).toBe('timeout');
  });
});
