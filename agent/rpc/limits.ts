// The numbers that bound inbound cluster RPC connections before they are upgraded: how long a
// handshake may take, and how many may be under way, per remote address and in total. Enforced
// by libp2p's connection manager (rpc-node.ts) and by our gater (pending-inbound.ts); quoted in
// the messages of failures.ts.

/**
 * The whole inbound handshake (private-network nonces, Noise, yamux) must finish within this long,
 * and a dialer waits this long for the remote's nonce. Between nodes that hold the key it takes a
 * few round trips (milliseconds on a LAN); a client without the key that says nothing holds a
 * pending slot this long at most (libp2p's default is 10 s).
 */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 1_000;
/**
 * A dialer waits this much longer than the handshake deadline for the remote's nonce: a remote
 * that gives up on us at its own deadline (it has no key, our nonce left it waiting for more) is
 * then seen closing the connection, not taken for one that says nothing.
 */
export const NONCE_WAIT_GRACE_MS = 500;
/**
 * Inbound connections one source (an IPv4 address, an IPv6 /64) may have in their handshake at a
 * time. Agents sharing a host all dial from one address (127.0.0.1), so this is not 1; a source
 * past it is refused at once (with a note that says so) instead of taking a slot the others need.
 */
export const DEFAULT_MAX_PENDING_PER_ADDRESS = 16;
/**
 * Inbound connections in their handshake at a time, from all sources together. When all are
 * taken, a newcomer takes the oldest slot of the source holding the most, as long as that source
 * keeps at least as many as the newcomer's (pending-inbound.ts); it is refused only when its own
 * source already holds as many as any other.
 */
export const MAX_PENDING_INBOUND = 64;
/**
 * libp2p's own pending-connection cap counts before our gater refuses, so it stays above ours as
 * a backstop, and a refused connection does not turn away the next one.
 */
export const LIBP2P_MAX_PENDING_INBOUND = 2 * MAX_PENDING_INBOUND;
/**
 * New inbound connections one address may open per second (libp2p's inboundConnectionThreshold).
 * Agents sharing a host (several 127.0.0.x on one machine) all dial from the same source address;
 * libp2p's default of 5 would turn them away. Past it, libp2p resets the connection at once.
 */
export const INBOUND_CONNECTIONS_PER_SECOND = 100;
