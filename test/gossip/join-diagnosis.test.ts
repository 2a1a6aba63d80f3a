// Why a join got no answer, from the evidence alone: packets from the target this node dropped,
// and how far the cluster RPC's handshake with it went. The real agents are in security.test.ts.
import { describe, expect, it } from 'vitest';
import { DropsBySource } from '../../agent/gossip/drops-by-source.js';
import { explainSilence, rpcProbeOutcome } from '../../agent/gossip/join-diagnosis.js';
import { ClusterRpcError } from '../../agent/rpc/errors.js';
import { HandshakeError } from '../../agent/rpc/handshake.js';

const ports = { gossip: 6768, rpc: 6767 };
const explain = (evidence: Parameters<typeof explainSilence>[3]) =>
  explainSilence('db1', '10.0.0.5', ports, evidence);

describe('explainSilence', () => {
  it('reads the dropped packets first: they are the target speaking', () => {
    expect(explain({ drops: ['decrypt'], rpc: 'nothing-listens', keyed: true })).toBe(
      'the node at db1 holds another cluster key (its packets do not open with ours)',
    );
    expect(explain({ drops: ['replay', 'plaintext-refused'], keyed: true })).toBe(
      'the node at db1 has no cluster key while this node has one (its packets come unencrypted)',
    );
    expect(explain({ drops: ['encrypted-without-key'], keyed: false })).toBe(
      'the node at db1 has a cluster key while this node has none (its packets come encrypted)',
    );
  });

  it('then the RPC handshake', () => {
    expect(explain({ drops: [], rpc: 'other-key', keyed: true })).toBe(
      'the node at db1 holds another cluster key (its cluster RPC at 10.0.0.5:6767 fails the pre-shared-key exchange with ours)',
    );
    expect(explain({ drops: [], rpc: 'remote-unkeyed', keyed: true })).toBe(
      'the node at db1 has no cluster key while this node has one (its cluster RPC at 10.0.0.5:6767 does not start the pre-shared-key exchange)',
    );
    expect(explain({ drops: [], rpc: 'remote-keyed', keyed: false })).toBe(
      'the node at db1 has a cluster key while this node has none (its cluster RPC at 10.0.0.5:6767 starts the pre-shared-key exchange)',
    );
    expect(explain({ drops: [], rpc: 'same-key', keyed: true })).toBe(
      'the node at db1 holds our cluster key (its cluster RPC at 10.0.0.5:6767 lets us in), but did not answer on its gossip port 6768: check that port, and firewalls for UDP',
    );
    expect(explain({ drops: [], rpc: 'same-key', keyed: false })).toBe(
      'the node at db1 has no cluster key either (its cluster RPC at 10.0.0.5:6767 lets us in), but did not answer on its gossip port 6768: check that port, and firewalls for UDP',
    );
  });

  it('else: nothing there, or a firewall', () => {
    for (const rpc of ['nothing-listens', 'unknown', undefined] as const)
      expect(explain({ drops: ['malformed'], rpc, keyed: true })).toBe(
        'no node answered at db1: nothing there, or a firewall',
      );
  });
});

describe('rpcProbeOutcome', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  const noNetwork = new HandshakeError('no-private-network', 'closed', {
    receivedBytes: 0,
    deadlineMs: 1000,
    refusal: undefined,
  });
  it.each([
    [new ClusterRpcError('refused', 'does not serve it'), true, 'same-key'],
    [new ClusterRpcError('stream-failed', 'broke off'), true, 'same-key'],
    [new ClusterRpcError('handshake-failed', 'keys differ'), true, 'other-key'],
    [new ClusterRpcError('handshake-failed', 'no nonce', { cause: noNetwork }), true, 'remote-unkeyed'],
    [new ClusterRpcError('handshake-failed', 'garbage'), false, 'remote-keyed'],
    [
      new ClusterRpcError('unreachable', 'nothing listens', { cause: new AggregateError([refused]) }),
      true,
      'nothing-listens',
    ],
    [new ClusterRpcError('unreachable', 'EHOSTUNREACH'), true, 'unknown'],
    [new ClusterRpcError('timeout', 'no answer'), true, 'unknown'],
    [new Error('anything else'), true, 'unknown'],
  ] as const)('%s (keyed: %s) -> %s', (error, keyed, outcome) => {
    expect(rpcProbeOutcome(error, keyed)).toBe(outcome);
  });
});

describe('DropsBySource', () => {
  it('remembers the last drop per reason of each source, the most recent first, and forgets the oldest source', () => {
    const drops = new DropsBySource(2);
    const a = { address: '10.0.0.1', port: 6768 };
    drops.record('decrypt', a, 100);
    drops.record('malformed', a, 200);
    expect(drops.since(a, 0)).toEqual(['malformed', 'decrypt']);
    expect(drops.since(a, 150)).toEqual(['malformed']);
    expect(drops.since({ address: '10.0.0.1', port: 9999 }, 0)).toEqual([]);
    drops.record('decrypt', { address: '10.0.0.2', port: 6768 }, 300);
    drops.record('decrypt', { address: '10.0.0.3', port: 6768 }, 400);
    expect(drops.since(a, 0)).toEqual([]);
    expect(drops.since({ address: '10.0.0.3', port: 6768 }, 0)).toEqual(['decrypt']);
  });
});
