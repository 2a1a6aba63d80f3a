// The cluster RPC channel's contract: request/response protocols between agents, over libp2p
// (TCP, Noise, yamux, and a private-network key derived from the cluster key). Gossip uses it for
// push-pull state sync; the KV store will use it next.
import type { RpcRequestCount } from './counters.js';

/** Where to reach another agent's RPC listener. */
export interface RpcTarget {
  host: string;
  port: number;
  /** The remote libp2p peer id when known (learned from gossip); checked by the Noise handshake. */
  peerId?: string;
}

/** Serves one protocol: gets the request bytes and the caller's peer id, returns the response. */
export type RpcHandler = (request: Uint8Array, remote: { peerId: string }) => Promise<Uint8Array>;

export interface HandleOptions {
  /**
   * One long-lived stream per connection carries every request of the protocol, tagged by id
   * (pipeline.ts), instead of a stream per request: for chatty protocols (KV replication). A node
   * that registers a protocol so also requests it so; both ends must agree (every agent runs the
   * same registrations).
   */
  pipelined?: boolean;
  /**
   * A pipelined stream of this protocol with no request for this long is closed (then its
   * connection, once it has no other stream). Default: the node's pipelineIdleMs (150 s, long
   * enough for push-pull's rounds to reuse it). A protocol asked of many peers now and then (check
   * tables) closes sooner, so that a connection opened for it goes as a plain request's would.
   */
  idleMs?: number;
}

export interface ClusterRpc {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** This node's libp2p peer id (from the identity key kept in the data dir). */
  readonly peerId: string;
  /** Registers a protocol, e.g. '/opsbro/push-pull/1.0.0'. Call before start(). */
  handle(protocol: string, handler: RpcHandler, options?: HandleOptions): void;
  /** One request, one response. Rejects on timeout, refusal, or a peer outside the private network. */
  request(target: RpcTarget, protocol: string, payload: Uint8Array, timeoutMs?: number): Promise<Uint8Array>;
  /** Requests sent and served since start, by protocol and outcome (for the exposition). */
  requestCounts?(): RpcRequestCount[];
  /** Connections opened since start (handshake done), by direction (for the exposition). */
  connectionCounts?(): { inbound: number; outbound: number };
  /** Peer ids of the nodes this node has an open connection with (a request to them dials nothing). */
  connectedPeers?(): Set<string>;
  /** Calls `listener` with the peer id of each connection opened from now on (either direction). */
  onPeerConnected?(listener: (peerId: string) => void): void;
}

export interface ClusterRpcOptions {
  /** Address to listen on (bind_addr). */
  host: string;
  port: number;
  /** The data dir: the libp2p identity key is kept in <data-dir>/rpc-identity.key (0600). */
  dataDir: string;
  /**
   * The cluster key (32 bytes). When set, the private-network pre-shared key is derived from it
   * (HKDF-SHA256), so only holders of the key can even connect. When unset, no private network.
   */
  clusterKey?: Buffer;
  /** Largest accepted request or response, in bytes. */
  maxMessageBytes?: number;
  /**
   * The inbound handshake (private-network nonces, Noise, yamux) must finish within this long, and
   * a dialer waits this long for the remote's first handshake bytes (default 1000 ms). Raise it
   * for links whose round trip nears a quarter of it.
   */
  handshakeTimeoutMs?: number;
  /** Inbound connections one remote address may have in their handshake at a time (default 16). */
  maxPendingPerAddress?: number;
  /** Connections without a stream at two sweeps in a row are closed (default every 10 s). */
  idleSweepMs?: number;
  /**
   * A pipelined stream without a request for this long is closed at a sweep, and its connection
   * at the next ones (default 150 s: longer than gossip's push-pull interval up to 256 members,
   * so the push-pulls with one partner share a connection, with no new handshake).
   */
  pipelineIdleMs?: number;
  /**
   * A TCP connection that carries no byte for this long is aborted (default 11 min: longer than
   * the longest request a node holds open, a KV blocking query of up to 10 min). libp2p's own
   * default of 2 min cut those waits short, and would cut the kept push-pull connections of
   * clusters whose push-pull interval reaches 2 min. Idle connections are closed sooner by the
   * sweeps above.
   */
  socketInactivityMs?: number;
}
