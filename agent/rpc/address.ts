// Addresses of the cluster RPC: turns host/port (and the peer id when gossip knows it) into the
// libp2p multiaddrs we listen on and dial. Hosts are IP addresses; name resolution is not ours.
import { isIPv4, isIPv6 } from 'node:net';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { peerIdFromString } from '@libp2p/peer-id';
import { ClusterRpcError } from './errors.js';
import type { RpcTarget } from './types.js';

export function tcpMultiaddr(host: string, port: number): Multiaddr {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ClusterRpcError('invalid', `cluster RPC port ${port} for ${host} is not a TCP port (0-65535)`);
  }
  if (isIPv4(host)) return multiaddr(`/ip4/${host}/tcp/${port}`);
  if (isIPv6(host)) return multiaddr(`/ip6/${host}/tcp/${port}`);
  throw new ClusterRpcError(
    'invalid',
    `cluster RPC address ${JSON.stringify(host)} is not an IPv4 or IPv6 address`,
  );
}

/** /ip4/<host>/tcp/<port>, plus /p2p/<peerId> when the target names its peer. */
export function targetMultiaddr(target: RpcTarget): Multiaddr {
  if (target.port === 0) throw new ClusterRpcError('invalid', `cannot dial port 0 of ${target.host}`);
  const address = tcpMultiaddr(target.host, target.port);
  if (target.peerId === undefined || target.peerId === '') return address;
  try {
    peerIdFromString(target.peerId);
  } catch (error) {
    throw new ClusterRpcError(
      'invalid',
      `${JSON.stringify(target.peerId)} is not a libp2p peer id (${(error as Error).message})`,
    );
  }
  return address.encapsulate(`/p2p/${target.peerId}`);
}

/** host:port, with brackets for IPv6, for messages. */
export function describeTarget(target: { host: string; port: number }): string {
  return isIPv6(target.host) ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
}
