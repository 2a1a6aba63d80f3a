// The cluster RPC node: a libp2p host (TCP, Noise, yamux, and the private network when a cluster
// key is set) that serves registered protocols and sends requests, one request and one response
// per stream. Implements the ClusterRpc contract of types.ts.
import './polyfills.js';
import { RpcCounters, type RpcRequestCount } from './counters.js';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import type { Connection, Libp2p, Stream } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';
import { tcp } from '@libp2p/tcp';
import { createLibp2p } from 'libp2p';
import { describeTarget, targetMultiaddr, tcpMultiaddr } from './address.js';
import { messageOf } from '../shared/errors.js';
import { asError, ClusterRpcError } from './errors.js';
import { explainListenFailure, explainRequestFailure, type RequestPhase } from './failures.js';
import { decodeErrorBody, encodeErrorBody, FrameTooLargeError, type FrameKind } from './framing.js';
import { loadOrCreateIdentity } from './identity.js';
import { noiseCrypto } from './noise-crypto.js';
import { INBOUND_CONNECTIONS_PER_SECOND, LIBP2P_MAX_PENDING_INBOUND, MAX_PENDING_INBOUND } from './limits.js';
import { pendingInboundGater, PendingInboundLimiter } from './pending-inbound.js';
import { privateNetworkProtector } from './private-network.js';
import { FrameOversizedAnswer, PipelineClient, servePipeline } from './pipeline.js';
import { RequestGate } from './request-gate.js';
import { readFrame, writeFrame } from './stream-io.js';
import type { ClusterRpc, HandleOptions, RpcHandler, RpcTarget } from './types.js';

export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
export { DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_MAX_PENDING_PER_ADDRESS } from './limits.js';
/** How often idle connections are looked for; one idle for two sweeps in a row is closed. */
const IDLE_SWEEP_MS = 10_000;
/** A pipelined stream idle this long is closed (ClusterRpcOptions.pipelineIdleMs). */
const PIPELINE_IDLE_MS = 150_000;
/** A TCP connection without a byte for this long is aborted (ClusterRpcOptions.socketInactivityMs). */
export const SOCKET_INACTIVITY_MS = 11 * 60_000;
/** An inbound request must arrive whole within this long of the stream opening. */
const INBOUND_REQUEST_TIMEOUT_MS = 10_000;
/** stop() gives connections this long to close politely, then aborts them (the contract is 2 s). */
const STOP_GRACE_MS = 1_200;
/** A dial shared by concurrent requests gives up after this long (libp2p's own default). */
const SHARED_DIAL_TIMEOUT_MS = 10_000;
/** Concurrent streams per protocol per connection; push-pull and KV replication share one connection. */
const MAX_STREAMS_PER_PROTOCOL = 256;
/** Requests beyond this many to one address wait for a slot (well under the limits above). */
const MAX_REQUESTS_IN_FLIGHT_PER_TARGET = 64;
/** Requests one pipelined stream runs at once; beyond, it stops reading (the caller's gate is lower). */
const MAX_PIPELINED_IN_FLIGHT = 256;

/** Validated settings (see ClusterRpcOptions for their meaning). */
export interface RpcNodeSettings {
  host: string;
  port: number;
  dataDir: string;
  clusterKey: Uint8Array | undefined;
  maxMessageBytes: number;
  handshakeTimeoutMs: number;
  maxPendingPerAddress: number;
  idleSweepMs?: number;
  pipelineIdleMs?: number;
  socketInactivityMs?: number;
}

export class Libp2pClusterRpc implements ClusterRpc {
  /** Connections seen without a stream at the last sweep. */
  private idleConnections = new Set<string>();
  private idleSweep?: NodeJS.Timeout;
  private readonly handlers = new Map<
    string,
    { handler: RpcHandler; pipelined: boolean; idleMs: number | undefined }
  >();
  /** The pipelined streams this node opened, by connection id and protocol (pipeline.ts). */
  private readonly pipelines = new Map<string, Promise<PipelineClient>>();
  /** Connections opened since the start, by direction (opsbro_rpc_connections_opened_total). */
  private readonly connectionsOpened = { inbound: 0, outbound: 0 };
  /** Connections already made, by target (host, port, peer id): a request skips libp2p's dial. */
  private readonly connections = new Map<string, Connection>();
  private servingPipelines = 0;
  private readonly peerListeners = new Set<(peerId: string) => void>();
  /** Requests and inbound exchanges under way, aborted by stop(). */
  private readonly inFlight = new Set<AbortController>();
  /** Dials under way to addresses given without a peer id, keyed by multiaddr. */
  private readonly pendingDials = new Map<string, Promise<Connection>>();
  private readonly gate = new RequestGate(MAX_REQUESTS_IN_FLIGHT_PER_TARGET);
  private readonly counters = new RpcCounters((protocol) => this.handlers.has(protocol));
  /** Inbound connections still in their handshake, per remote address. */
  private readonly pendingInbound: PendingInboundLimiter;
  private node: Libp2p | undefined;
  private ownPeerId: string | undefined;
  private lifecycle: Promise<void> = Promise.resolve();

  constructor(private readonly settings: RpcNodeSettings) {
    this.pendingInbound = new PendingInboundLimiter({
      perAddress: settings.maxPendingPerAddress,
      total: MAX_PENDING_INBOUND,
    });
  }

  /**
   * Inbound connections in their handshake now, from the source of `address` (the address, or
   * its IPv6 /64) or in total (diagnostics, tests).
   */
  pendingHandshakes(address?: string): number {
    return this.pendingInbound.pending(address);
  }

  /** Pipelined streams this node serves now, and those it opened as a caller (diagnostics, tests). */
  pipelinedStreams(): { serving: number; calling: number } {
    return { serving: this.servingPipelines, calling: this.pipelines.size };
  }

  /** Pending inbound connections aborted to make room for a newcomer, since the start. */
  evictedHandshakes(): number {
    return this.pendingInbound.evictions();
  }

  get peerId(): string {
    if (this.ownPeerId === undefined) {
      throw new ClusterRpcError(
        'not-started',
        'the cluster RPC peer id is known once start() has loaded the identity key',
      );
    }
    return this.ownPeerId;
  }

  handle(protocol: string, handler: RpcHandler, options: HandleOptions = {}): void {
    if (!protocol.startsWith('/')) {
      throw new ClusterRpcError(
        'invalid',
        `protocol ${JSON.stringify(protocol)} must start with '/', e.g. /opsbro/push-pull/1.0.0`,
      );
    }
    if (this.node) throw new ClusterRpcError('invalid', `register ${protocol} before start()`);
    if (this.handlers.has(protocol)) throw new ClusterRpcError('invalid', `${protocol} is already handled`);
    // Counted where every inbound exchange of either kind (plain or pipelined) runs it.
    const counted: RpcHandler = async (request, remote) => {
      try {
        const answer = await handler(request, remote);
        this.counters.add('served', protocol);
        return answer;
      } catch (error) {
        this.counters.add('served', protocol, error);
        throw error;
      }
    };
    this.handlers.set(protocol, {
      handler: counted,
      pipelined: options.pipelined ?? false,
      idleMs: options.idleMs,
    });
  }

  start(): Promise<void> {
    // Serialised with stop(); a failed start does not prevent the next attempt.
    this.lifecycle = this.lifecycle.catch(() => undefined).then(() => this.startNow());
    return this.lifecycle;
  }

  stop(): Promise<void> {
    this.lifecycle = this.lifecycle.catch(() => undefined).then(() => this.stopNow());
    return this.lifecycle;
  }

  private async startNow(): Promise<void> {
    if (this.node) return;
    const { host, port, dataDir, clusterKey, handshakeTimeoutMs } = this.settings;
    const socketInactivityMs = this.settings.socketInactivityMs ?? SOCKET_INACTIVITY_MS;
    const listenAddress = tcpMultiaddr(host, port);
    const identity = await loadOrCreateIdentity(dataDir);
    this.ownPeerId = identity.peerId;
    const node = await createLibp2p({
      start: false,
      privateKey: identity.privateKey,
      addresses: { listen: [listenAddress.toString()] },
      transports: [
        tcp({
          inboundSocketInactivityTimeout: socketInactivityMs,
          outboundSocketInactivityTimeout: socketInactivityMs,
        }),
      ],
      connectionEncrypters: [noise({ crypto: noiseCrypto })],
      // Streams that arrive before libp2p has wired the new connection's stream listener count as
      // "early"; past yamux's default of 10 it resets the whole connection, which a burst of
      // requests on a fresh connection (push-pull fan-out, KV replication) easily reaches.
      // No keep-alive pings: idle connections are closed instead (sweepIdleConnections), so an
      // agent's cost does not grow with the number of peers it has ever synced with.
      streamMuxers: [yamux({ maxEarlyStreams: MAX_STREAMS_PER_PROTOCOL, enableKeepAlive: false })],
      connectionProtector: clusterKey ? privateNetworkProtector(clusterKey, handshakeTimeoutMs) : undefined,
      // Per-source limits on inbound connections still in their handshake, with the slots shared
      // out evenly when all are taken (pending-inbound.ts).
      connectionGater: pendingInboundGater(this.pendingInbound),
      // No ping streams either: a connection that goes quiet is closed by the sweep, not probed.
      connectionMonitor: { enabled: false },
      connectionManager: {
        // Per source address; agents sharing a host all dial from one (see limits.ts).
        inboundConnectionThreshold: INBOUND_CONNECTIONS_PER_SECOND,
        maxIncomingPendingConnections: LIBP2P_MAX_PENDING_INBOUND,
        // A client that connects and says nothing (or talks slowly) loses its slot after this.
        inboundUpgradeTimeout: handshakeTimeoutMs,
      },
    });
    for (const [protocol, { handler, pipelined }] of this.handlers) {
      const serve = pipelined
        ? (stream: Stream, connection: Connection) =>
            this.servePipelined(protocol, handler, stream, connection)
        : (stream: Stream, connection: Connection) => this.serve(protocol, handler, stream, connection);
      await node.handle(protocol, serve, {
        maxInboundStreams: MAX_STREAMS_PER_PROTOCOL,
        maxOutboundStreams: MAX_STREAMS_PER_PROTOCOL,
      });
    }
    try {
      await node.start();
    } catch (error) {
      await Promise.resolve(node.stop()).catch(() => undefined);
      throw explainListenFailure(error, describeTarget({ host, port }));
    }
    this.node = node;
    node.addEventListener('connection:open', (event) => {
      this.connectionsOpened[event.detail.direction]++;
      if (this.peerListeners.size) {
        const peerId = event.detail.remotePeer.toString();
        for (const listener of this.peerListeners) listener(peerId);
      }
    });
    this.idleSweep = setInterval(
      () => this.sweepIdleConnections(node),
      this.settings.idleSweepMs ?? IDLE_SWEEP_MS,
    );
    this.idleSweep.unref();
  }

  /**
   * Closes pipelined streams without a request for their protocol's idleMs, else pipelineIdleMs
   * (from the first sweep that saw them idle), and connections that had no stream at two sweeps in
   * a row (idle for 10-20 s).
   */
  private sweepIdleConnections(node: Libp2p): void {
    const defaultIdleMs = this.settings.pipelineIdleMs ?? PIPELINE_IDLE_MS;
    for (const opening of this.pipelines.values()) {
      void opening.then(
        (client) => {
          if (client.waiting > 0) client.idleSince = undefined;
          else if (client.idleSince === undefined) client.idleSince = Date.now();
          else if (Date.now() - client.idleSince >= (client.idleMs ?? defaultIdleMs)) client.close();
        },
        () => undefined,
      );
    }
    for (const [key, connection] of this.connections) {
      if (connection.status !== 'open') this.connections.delete(key);
    }
    const idleNow = new Set<string>();
    for (const connection of node.getConnections()) {
      if (connection.streams.length > 0) continue;
      if (this.idleConnections.has(connection.id)) {
        void Promise.resolve(connection.close()).catch(() =>
          connection.abort(new Error('idle connection closed')),
        );
      } else {
        idleNow.add(connection.id);
      }
    }
    this.idleConnections = idleNow;
  }

  private async stopNow(): Promise<void> {
    const node = this.node;
    if (!node) return;
    this.node = undefined;
    clearInterval(this.idleSweep);
    this.connections.clear();
    this.pipelines.clear();
    for (const controller of this.inFlight) {
      controller.abort(new ClusterRpcError('not-started', 'the cluster RPC is stopping'));
    }
    const stopped = Promise.resolve(node.stop());
    if ((await settleWithin(stopped, STOP_GRACE_MS)) === 'timeout') {
      // A peer that does not answer the close handshake must not hold up the agent's shutdown.
      for (const connection of node.getConnections()) connection.abort(new Error('cluster RPC stopping'));
      await settleWithin(stopped, 2_000 - STOP_GRACE_MS - 100);
    }
  }

  /** Connections opened (their handshake done) since start, by direction (the exposition). */
  connectionCounts(): { inbound: number; outbound: number } {
    return { ...this.connectionsOpened };
  }

  onPeerConnected(listener: (peerId: string) => void): void {
    this.peerListeners.add(listener);
  }

  connectedPeers(): Set<string> {
    const peers = new Set<string>();
    for (const connection of this.node?.getConnections() ?? [])
      if (connection.status === 'open') peers.add(connection.remotePeer.toString());
    return peers;
  }

  /** Requests sent and served since start, by protocol and outcome (the Prometheus exposition). */
  requestCounts(): RpcRequestCount[] {
    return this.counters.list();
  }

  async request(
    target: RpcTarget,
    protocol: string,
    payload: Uint8Array,
    timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
  ): Promise<Uint8Array> {
    try {
      const answer = await this.requestNow(target, protocol, payload, timeoutMs);
      this.counters.add('sent', protocol);
      return answer;
    } catch (error) {
      this.counters.add('sent', protocol, error);
      throw error;
    }
  }

  private async requestNow(
    target: RpcTarget,
    protocol: string,
    payload: Uint8Array,
    timeoutMs: number,
  ): Promise<Uint8Array> {
    const where = describeTarget(target);
    const node = this.node;
    if (!node) {
      throw new ClusterRpcError(
        'not-started',
        `cannot send ${protocol} to ${where}: the cluster RPC is not started`,
      );
    }
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new ClusterRpcError(
        'invalid',
        `timeout ${timeoutMs} ms for ${protocol} to ${where} must be a positive number`,
      );
    }
    const { maxMessageBytes } = this.settings;
    if (payload.byteLength > maxMessageBytes) {
      throw new ClusterRpcError(
        'too-large',
        `request ${protocol} to ${where} is ${payload.byteLength} bytes, over maxMessageBytes (${maxMessageBytes})`,
      );
    }
    const targetKey = `${target.host}|${target.port}|${target.peerId ?? ''}`;
    // Validates the target (address, peer id) before anything is sent; once per target.
    const address = this.connections.has(targetKey) ? undefined : targetMultiaddr(target);

    const controller = new AbortController();
    const timer = setTimeout(() => {
      controller.abort(
        new ClusterRpcError('timeout', `${protocol} to ${where} timed out after ${timeoutMs} ms`),
      );
    }, timeoutMs);
    this.inFlight.add(controller);
    const { signal } = controller;
    let phase: RequestPhase = 'queue';
    let stream: Stream | undefined;
    let leaveGate: (() => void) | undefined;
    try {
      leaveGate = await this.gate.enter(where, signal);
      // A stream on the connection kept for the target; on a new one if the peer had closed that
      // one (its idle sweep) before this side saw it: nothing was sent yet, so a retry is safe.
      const onConnection = async <T>(open: (connection: Connection) => Promise<T>): Promise<T> => {
        for (let attempt = 1; ; attempt++) {
          phase = 'connect';
          const connection = await this.connectTo(node, targetKey, target, address, signal);
          phase = 'negotiate';
          try {
            return await open(connection);
          } catch (error) {
            if (attempt > 1 || signal.aborted || !closedUnderUs(error)) throw error;
            if (this.connections.get(targetKey) === connection) this.connections.delete(targetKey);
            connection.abort(asError(error));
          }
        }
      };
      if (this.handlers.get(protocol)?.pipelined) {
        const client = await onConnection((connection) => this.pipelineOn(connection, protocol, signal));
        phase = 'exchange';
        const frame = await client.exchange(payload, signal);
        return this.unwrapResponse(frame.kind, frame.body, protocol, where);
      }
      stream = await onConnection((connection) =>
        connection.newStream(protocol, { signal, maxOutboundStreams: MAX_STREAMS_PER_PROTOCOL }),
      );
      phase = 'exchange';
      // Listen first: a refusal can arrive while the request is still going out.
      const response = readFrame(stream, maxMessageBytes, signal);
      response.catch(() => undefined);
      let writeError: unknown;
      try {
        await writeFrame(stream, 'request', payload, signal);
        await stream.close({ signal });
      } catch (error) {
        writeError = error;
      }
      let frame;
      try {
        frame = await response;
      } catch (error) {
        throw writeError ?? error;
      }
      return this.unwrapResponse(frame.kind, frame.body, protocol, where);
    } catch (error) {
      stream?.abort(asError(signal.aborted ? signal.reason : error));
      if (signal.aborted && signal.reason instanceof ClusterRpcError) {
        if (signal.reason.code !== 'timeout') throw signal.reason;
        throw new ClusterRpcError('timeout', timeoutMessage(signal.reason.message, phase), { cause: error });
      }
      if (error instanceof ClusterRpcError) throw error;
      if (error instanceof FrameTooLargeError || error instanceof FrameOversizedAnswer) {
        throw new ClusterRpcError(
          'too-large',
          `the response to ${protocol} from ${where} is ${error.declaredBytes} bytes, over maxMessageBytes (${maxMessageBytes}); refused`,
        );
      }
      throw explainRequestFailure(error, {
        protocol,
        where,
        phase,
        peerId: target.peerId,
        keyed: this.settings.clusterKey !== undefined,
      });
    } finally {
      leaveGate?.();
      clearTimeout(timer);
      this.inFlight.delete(controller);
    }
  }

  /** The connection made for this target before if it is still open, else a new one (remembered). */
  private async connectTo(
    node: Libp2p,
    targetKey: string,
    target: RpcTarget,
    address: Multiaddr | undefined,
    signal: AbortSignal,
  ): Promise<Connection> {
    const known = this.connections.get(targetKey);
    if (known?.status === 'open') return known;
    const connection = await this.connect(
      node,
      address ?? targetMultiaddr(target),
      target.peerId !== undefined && target.peerId !== '',
      signal,
    );
    this.connections.set(targetKey, connection);
    return connection;
  }

  /** The pipelined stream of `protocol` on `connection`, opened by the first request that needs it. */
  private pipelineOn(connection: Connection, protocol: string, signal: AbortSignal): Promise<PipelineClient> {
    const key = `${connection.id} ${protocol}`;
    let opening = this.pipelines.get(key);
    if (!opening) {
      const forget = (): void => {
        if (this.pipelines.get(key) === opening) this.pipelines.delete(key);
      };
      // Not bound to this request's signal: later requests share the stream.
      opening = connection
        .newStream(protocol, {
          maxOutboundStreams: MAX_STREAMS_PER_PROTOCOL,
          signal: AbortSignal.timeout(SHARED_DIAL_TIMEOUT_MS),
        })
        .then((stream) => {
          const client = new PipelineClient(stream, this.settings.maxMessageBytes, forget);
          client.idleMs = this.handlers.get(protocol)?.idleMs;
          return client;
        });
      opening.catch(forget);
      this.pipelines.set(key, opening);
    }
    return raceAbort(opening, signal);
  }

  /**
   * A connection to the target. With a peer id libp2p reuses any connection to that peer; without
   * one it would dial anew every time, so reuse an open connection we dialed to the same address,
   * and let concurrent first requests share one dial.
   */
  private async connect(
    node: Libp2p,
    address: Multiaddr,
    hasPeerId: boolean,
    signal: AbortSignal,
  ): Promise<Connection> {
    if (hasPeerId) return node.dial(address, { signal });
    const key = address.toString();
    const open = node
      .getConnections()
      .find((connection) => connection.status === 'open' && dialedAddress(connection) === key);
    if (open) return open;
    let dial = this.pendingDials.get(key);
    if (!dial) {
      // Shared by every request waiting for it, so bounded by its own timeout, not the first caller's.
      const controller = new AbortController();
      const timer = setTimeout(
        () => controller.abort(new Error(`no connection within ${SHARED_DIAL_TIMEOUT_MS} ms`)),
        SHARED_DIAL_TIMEOUT_MS,
      );
      this.inFlight.add(controller);
      dial = node.dial(address, { signal: controller.signal }).finally(() => {
        clearTimeout(timer);
        this.inFlight.delete(controller);
        this.pendingDials.delete(key);
      });
      this.pendingDials.set(key, dial);
    }
    return raceAbort(dial, signal);
  }

  private unwrapResponse(kind: FrameKind, body: Uint8Array, protocol: string, where: string): Uint8Array {
    switch (kind) {
      case 'ok':
        return body;
      case 'handler-error':
        throw new ClusterRpcError(
          'handler-failed',
          `${protocol} on ${where} failed: ${decodeErrorBody(body)}`,
        );
      case 'refused':
        throw new ClusterRpcError('refused', `${where} refused ${protocol}: ${decodeErrorBody(body)}`);
      case 'request':
        throw new ClusterRpcError(
          'stream-failed',
          `${where} answered ${protocol} with a request frame (not an opsbro peer?)`,
        );
    }
  }

  /** One inbound pipelined stream: its requests run as they come (pipeline.ts). */
  private async servePipelined(
    protocol: string,
    handler: RpcHandler,
    stream: Stream,
    connection: Connection,
  ): Promise<void> {
    const { maxMessageBytes } = this.settings;
    const remote = { peerId: connection.remotePeer.toString() };
    this.servingPipelines++;
    try {
      await this.servePipelineStream(protocol, handler, stream, remote, maxMessageBytes);
    } finally {
      this.servingPipelines--;
    }
  }

  private servePipelineStream(
    protocol: string,
    handler: RpcHandler,
    stream: Stream,
    remote: { peerId: string },
    maxMessageBytes: number,
  ): Promise<void> {
    return servePipeline(stream, {
      maxBodyBytes: maxMessageBytes,
      maxInFlight: MAX_PIPELINED_IN_FLIGHT,
      errorBody: (message) => this.errorBody(message),
      run: (request) => Promise.resolve().then(() => handler(request, remote)),
      checkAnswer: (answer) =>
        !(answer instanceof Uint8Array)
          ? `the ${protocol} handler returned ${typeof answer}, not bytes`
          : answer.byteLength > maxMessageBytes
            ? `the ${protocol} handler's response is ${answer.byteLength} bytes, over maxMessageBytes (${maxMessageBytes})`
            : undefined,
    });
  }

  /** One inbound exchange: read the request, run the handler, write its answer. */
  private async serve(
    protocol: string,
    handler: RpcHandler,
    stream: Stream,
    connection: Connection,
  ): Promise<void> {
    const controller = new AbortController();
    const timer = setTimeout(() => {
      controller.abort(new Error(`no complete ${protocol} request within ${INBOUND_REQUEST_TIMEOUT_MS} ms`));
    }, INBOUND_REQUEST_TIMEOUT_MS);
    this.inFlight.add(controller);
    const { signal } = controller;
    // A caller that times out resets the stream: stop waiting for a handler it no longer wants.
    const onStreamClosed = (): void =>
      controller.abort(new Error(`the caller closed the ${protocol} stream`));
    stream.addEventListener('close', onStreamClosed, { once: true });
    const { maxMessageBytes } = this.settings;
    try {
      let request;
      try {
        request = await readFrame(stream, maxMessageBytes, signal);
      } catch (error) {
        if (error instanceof FrameTooLargeError) {
          await this.refuse(
            stream,
            `the request is ${error.declaredBytes} bytes, over this node's maxMessageBytes (${maxMessageBytes})`,
            signal,
          );
        } else {
          stream.abort(asError(error));
        }
        return;
      }
      clearTimeout(timer);
      if (request.kind !== 'request') {
        await this.refuse(stream, `expected a request, got a ${request.kind} frame`, signal);
        return;
      }
      let response: Uint8Array;
      const remote = { peerId: connection.remotePeer.toString() };
      try {
        // then(): a handler that throws synchronously is reported like one that rejects.
        response = await raceAbort(
          Promise.resolve().then(() => handler(request.body, remote)),
          signal,
        );
      } catch (error) {
        if (signal.aborted) {
          stream.abort(asError(signal.reason));
          return;
        }
        await this.answer(stream, 'handler-error', this.errorBody(messageOf(error)), signal);
        return;
      }
      if (!(response instanceof Uint8Array)) {
        const message = `the ${protocol} handler returned ${typeof response}, not bytes`;
        await this.answer(stream, 'handler-error', this.errorBody(message), signal);
      } else if (response.byteLength > maxMessageBytes) {
        const message = `the ${protocol} handler's response is ${response.byteLength} bytes, over maxMessageBytes (${maxMessageBytes})`;
        await this.answer(stream, 'handler-error', this.errorBody(message), signal);
      } else {
        await this.answer(stream, 'ok', response, signal);
      }
    } finally {
      stream.removeEventListener('close', onStreamClosed);
      clearTimeout(timer);
      this.inFlight.delete(controller);
    }
  }

  private async answer(
    stream: Stream,
    kind: FrameKind,
    body: Uint8Array,
    signal: AbortSignal,
  ): Promise<boolean> {
    try {
      await writeFrame(stream, kind, body, signal);
      await stream.close({ signal });
      return true;
    } catch (error) {
      // The caller has gone (timed out, stopped); it reports its own failure.
      stream.abort(asError(error));
      return false;
    }
  }

  /** Answers with a refusal, then resets the stream so the caller stops sending the rest. */
  private async refuse(stream: Stream, message: string, signal: AbortSignal): Promise<void> {
    if (await this.answer(stream, 'refused', this.errorBody(message), signal))
      stream.abort(new Error(message));
  }

  /** An error frame's body: at most 2 KiB, and never over our own maxMessageBytes. */
  private errorBody(message: string): Uint8Array {
    return encodeErrorBody(message, Math.min(2048, this.settings.maxMessageBytes));
  }
}

function timeoutMessage(message: string, phase: RequestPhase): string {
  switch (phase) {
    case 'queue':
      return `${message} while queued behind ${MAX_REQUESTS_IN_FLIGHT_PER_TARGET} requests in flight to the same address`;
    case 'connect':
      return `${message} while connecting (the TCP connection or the handshake did not complete in time)`;
    case 'negotiate':
      return `${message} while opening the stream`;
    case 'exchange':
      return `${message} waiting for the response`;
  }
}

/** The address we dialed for an outbound connection, without its /p2p/ part. */
function dialedAddress(connection: Connection): string | undefined {
  if (connection.direction !== 'outbound') return undefined;
  const remote = connection.remoteAddr.toString();
  const p2p = remote.indexOf('/p2p/');
  return p2p === -1 ? remote : remote.slice(0, p2p);
}

/** The promise's outcome, unless the signal aborts first (the promise carries on for others). */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(asError(signal.reason));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(asError(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(asError(error));
      },
    );
  });
}

async function settleWithin(promise: Promise<unknown>, ms: number): Promise<'settled' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), Math.max(ms, 0));
  });
  try {
    return await Promise.race([
      promise.then(
        () => 'settled' as const,
        () => 'settled' as const,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A stream could not open because the connection had closed or was closing (libp2p's errors). */
function closedUnderUs(error: unknown): boolean {
  const name = error instanceof Error ? error.name : '';
  return name === 'ConnectionClosedError' || name === 'ConnectionClosingError' || name === 'MuxerClosedError';
}
