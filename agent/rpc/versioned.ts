// A request under the newest version of a protocol a peer serves: protocols whose payloads did not
// change between versions (only how they travel, e.g. pipelined from 2.0.0) are asked under the
// newest first and under an older one of a peer not yet upgraded. Push-pull changed its payloads
// too, so it falls back by hand (gossip/subsystem.ts).
import { isNotServed } from './failures.js';
import type { ClusterRpc, RpcTarget } from './types.js';

export async function requestNewest(
  rpc: Pick<ClusterRpc, 'request'>,
  target: RpcTarget,
  /** The protocol's versions, newest first. */
  protocols: readonly [string, ...string[]],
  payload: Uint8Array,
  timeoutMs?: number,
): Promise<Uint8Array> {
  for (let index = 0; ; index++) {
    try {
      return await rpc.request(target, protocols[index]!, payload, timeoutMs);
    } catch (error) {
      if (index === protocols.length - 1 || !isNotServed(error)) throw error;
    }
  }
}
