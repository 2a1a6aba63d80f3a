// Why a join got no answer, in words an operator can act on. A node with another cluster key stays
// silent (it cannot open our ping, and answers nothing it cannot open), so "no node answered" told
// an operator nothing. Two kinds of evidence say more:
// - packets from the target's address that this node dropped lately (the engine remembers drops by
//   source): sealed with a key we lack, sent in clear to our keyed node, or sealed while we have no
//   key. They come when the target itself tries to reach us (it has us as a seed);
// - the cluster RPC's pre-shared-key exchange with the target (its RPC port taken to be ours): it
//   fails after the exchange when the keys differ, is never started by a node without a key, and
//   is demanded by a keyed node from one without (rpc/failures.ts tells these apart).
import type { DropReason } from '../shared/api-types.js';
import { ClusterRpcError } from '../rpc/errors.js';
import { HandshakeError } from '../rpc/handshake.js';
import type { ClusterRpc } from '../rpc/types.js';

/** A protocol nobody serves: reaching "not served" proves the handshake, keys included, went through. */
export const JOIN_PROBE_PROTOCOL = '/opsbro/join-probe/1.0.0';

/** How long the RPC probe may take: the join has already waited for its pings. */
export const JOIN_PROBE_TIMEOUT_MS = 2000;

/** What the RPC probe of a silent target found. */
export type RpcProbeOutcome =
  /** The handshake went through: same key (or both open). */
  | 'same-key'
  /** Both keyed, and the exchange failed past the nonces: the keys differ. */
  | 'other-key'
  /** We are keyed, it never started the exchange: it has no key. */
  | 'remote-unkeyed'
  /** We have no key, its answer was the exchange's nonce: it has one. */
  | 'remote-keyed'
  /** Connection refused: nothing listens on that RPC port. */
  | 'nothing-listens'
  /** Anything else: no answer in time, unreachable, turned away at a limit. */
  | 'unknown';

export interface SilenceEvidence {
  /** Reasons of the packets from the target dropped lately, most recent first. */
  drops: readonly DropReason[];
  /** The RPC probe's outcome; undefined when no probe ran (the RPC is restarting). */
  rpc?: RpcProbeOutcome;
  /** Whether this node has a cluster key. */
  keyed: boolean;
}

/**
 * The message for a target that did not answer a join: `target` as the operator wrote it (HOST or
 * HOST:PORT), `host` its address, `ports` the gossip port pinged and the RPC port probed.
 */
export function explainSilence(
  target: string,
  host: string,
  ports: { gossip: number; rpc: number },
  evidence: SilenceEvidence,
): string {
  const node = `the node at ${target}`;
  const rpc = `its cluster RPC at ${host}:${ports.rpc}`;
  for (const reason of evidence.drops) {
    if (reason === 'decrypt') return `${node} holds another cluster key (its packets do not open with ours)`;
    if (reason === 'plaintext-refused')
      return `${node} has no cluster key while this node has one (its packets come unencrypted)`;
    if (reason === 'encrypted-without-key')
      return `${node} has a cluster key while this node has none (its packets come encrypted)`;
  }
  switch (evidence.rpc) {
    case 'other-key':
      return `${node} holds another cluster key (${rpc} fails the pre-shared-key exchange with ours)`;
    case 'remote-unkeyed':
      return `${node} has no cluster key while this node has one (${rpc} does not start the pre-shared-key exchange)`;
    case 'remote-keyed':
      return `${node} has a cluster key while this node has none (${rpc} starts the pre-shared-key exchange)`;
    case 'same-key':
      return (
        `${node} ${evidence.keyed ? 'holds our cluster key' : 'has no cluster key either'} (${rpc} lets us in), ` +
        `but did not answer on its gossip port ${ports.gossip}: check that port, and firewalls for UDP`
      );
    default:
      return `no node answered at ${target}: nothing there, or a firewall`;
  }
}

/** Dials the target's cluster RPC and says how far the handshake went (never throws). */
export async function probeRpc(
  rpc: ClusterRpc,
  host: string,
  port: number,
  keyed: boolean,
): Promise<RpcProbeOutcome> {
  try {
    await rpc.request({ host, port }, JOIN_PROBE_PROTOCOL, new Uint8Array(0), JOIN_PROBE_TIMEOUT_MS);
    return 'same-key';
  } catch (error) {
    return rpcProbeOutcome(error, keyed);
  }
}

/** The outcome of a probe that threw `error` (rpc/failures.ts made it a ClusterRpcError). */
export function rpcProbeOutcome(error: unknown, keyed: boolean): RpcProbeOutcome {
  if (!(error instanceof ClusterRpcError)) return 'unknown';
  switch (error.code) {
    // Past the handshake: the protocol is not served, or the stream broke after it opened.
    case 'refused':
    case 'handler-failed':
    case 'too-large':
    case 'stream-failed':
      return 'same-key';
    case 'handshake-failed':
      if (!keyed) return 'remote-keyed';
      return inCauses(error, (link) => link instanceof HandshakeError && link.kind === 'no-private-network')
        ? 'remote-unkeyed'
        : 'other-key';
    case 'unreachable':
      return inCauses(error, (link) => (link as NodeJS.ErrnoException).code === 'ECONNREFUSED')
        ? 'nothing-listens'
        : 'unknown';
    default:
      return 'unknown';
  }
}

/** Whether `error` or one of its causes (AggregateErrors' members too) is one `matches` accepts. */
function inCauses(error: unknown, matches: (link: Error) => boolean): boolean {
  const seen = new Set<unknown>();
  const pending: unknown[] = [error];
  while (pending.length && seen.size < 32) {
    const link = pending.pop();
    if (!(link instanceof Error) || seen.has(link)) continue;
    seen.add(link);
    if (matches(link)) return true;
    pending.push(link.cause);
    if (link instanceof AggregateError) pending.push(...(link.errors as unknown[]));
  }
  return false;
}
