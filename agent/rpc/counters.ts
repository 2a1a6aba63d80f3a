// The cluster RPC's request counts, for the Prometheus exposition: requests this node sent and
// served, by protocol and outcome ('ok', or the ClusterRpcError code / 'error'). Protocols are
// the ones this node registered (a bounded set: a stranger's made-up protocol is never counted
// under its own name).
import { ClusterRpcError } from './errors.js';

export interface RpcRequestCount {
  direction: 'sent' | 'served';
  protocol: string;
  outcome: string;
  count: number;
}

export class RpcCounters {
  private readonly counts = new Map<string, RpcRequestCount>();

  constructor(private readonly known: (protocol: string) => boolean) {}

  add(direction: RpcRequestCount['direction'], protocol: string, error?: unknown): void {
    const name = this.known(protocol) ? protocol : 'other';
    const outcome = error === undefined ? 'ok' : error instanceof ClusterRpcError ? error.code : 'error';
    const key = `${direction}|${name}|${outcome}`;
    const entry = this.counts.get(key);
    if (entry) entry.count++;
    else this.counts.set(key, { direction, protocol: name, outcome, count: 1 });
  }

  list(): RpcRequestCount[] {
    return [...this.counts.values()].map((entry) => ({ ...entry }));
  }
}
