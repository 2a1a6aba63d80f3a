// Cluster RPC (agent/rpc): request/response between agents over libp2p (TCP, Noise, yamux, and a
// private network keyed from the cluster key). The public surface: createClusterRpc and the types.
import './polyfills.js';
import { ClusterRpcError } from './errors.js';
import { MAX_FRAME_BODY_BYTES } from './framing.js';
import {
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_PENDING_PER_ADDRESS,
  Libp2pClusterRpc,
} from './rpc-node.js';
import { CLUSTER_KEY_BYTES } from './private-network.js';
import type { ClusterRpc, ClusterRpcOptions } from './types.js';

export type { ClusterRpc, ClusterRpcOptions, HandleOptions, RpcHandler, RpcTarget } from './types.js';
export { ClusterRpcError, type ClusterRpcErrorCode } from './errors.js';
export {
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_PENDING_PER_ADDRESS,
  DEFAULT_REQUEST_TIMEOUT_MS,
} from './rpc-node.js';
export { IDENTITY_FILE_NAME } from './identity.js';

export function createClusterRpc(options: ClusterRpcOptions): ClusterRpc {
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (!Number.isInteger(maxMessageBytes) || maxMessageBytes < 1 || maxMessageBytes > MAX_FRAME_BODY_BYTES) {
    throw new ClusterRpcError(
      'invalid',
      `maxMessageBytes ${maxMessageBytes} must be an integer from 1 to ${MAX_FRAME_BODY_BYTES}`,
    );
  }
  if (options.clusterKey !== undefined && options.clusterKey.byteLength !== CLUSTER_KEY_BYTES) {
    throw new ClusterRpcError(
      'invalid',
      `the cluster key is ${options.clusterKey.byteLength} bytes, expected ${CLUSTER_KEY_BYTES}; generate one with 'opsbro agent keygen'`,
    );
  }
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  if (!Number.isInteger(handshakeTimeoutMs) || handshakeTimeoutMs < 1) {
    throw new ClusterRpcError(
      'invalid',
      `handshakeTimeoutMs ${handshakeTimeoutMs} must be a positive integer`,
    );
  }
  const maxPendingPerAddress = options.maxPendingPerAddress ?? DEFAULT_MAX_PENDING_PER_ADDRESS;
  if (!Number.isInteger(maxPendingPerAddress) || maxPendingPerAddress < 1) {
    throw new ClusterRpcError(
      'invalid',
      `maxPendingPerAddress ${maxPendingPerAddress} must be a positive integer`,
    );
  }
  if (options.dataDir === '')
    throw new ClusterRpcError('invalid', 'the cluster RPC needs a data dir for its identity key');
  return new Libp2pClusterRpc({
    host: options.host,
    port: options.port,
    dataDir: options.dataDir,
    clusterKey: options.clusterKey,
    maxMessageBytes,
    handshakeTimeoutMs,
    maxPendingPerAddress,
    idleSweepMs: options.idleSweepMs,
    pipelineIdleMs: options.pipelineIdleMs,
    socketInactivityMs: options.socketInactivityMs,
  });
}
