// Pipelined cluster RPC protocols (agent/rpc/pipeline.ts): many requests on one long-lived stream
// per connection, answered in any order, between real nodes on 127.0.0.1; and the tagged framing
// on its own.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Libp2p } from '@libp2p/interface';
import { afterEach, describe, expect, it } from 'vitest';
import type { ClusterRpcError } from '../agent/rpc/index.js';
import {
  createClusterRpc,
  type ClusterRpcOptions,
  type HandleOptions,
  type RpcHandler,
} from '../agent/rpc/index.js';
import { encodeTaggedFrame, TaggedFrameDecoder, TAGGED_HEADER_BYTES } from '../agent/rpc/pipeline.js';
import { Libp2pClusterRpc, SOCKET_INACTIVITY_MS } from '../agent/rpc/rpc-node.js';
import { requestNewest } from '../agent/rpc/versioned.js';
import { MAX_WAIT_MS } from '../agent/kv/rpc-protocol.js';
import { cleanupAll, freePort, tempDir } from './helpers/agent-process.js';

const PIPE = '/opsbro-test/pipe/1.0.0';
const started = new Set<Libp2pClusterRpc>();

afterEach(async () => {
  await Promise.all([...started].map((rpc) => rpc.stop()));
  started.clear();
  cleanupAll();
});

async function startNode(
  handler: RpcHandler | undefined,
  options: Partial<ClusterRpcOptions> = {},
  /** Other protocols served, each with its options (none: a stream per request). */
  more: Record<string, [RpcHandler, HandleOptions?]> = {},
): Promise<{ rpc: Libp2pClusterRpc; port: number; dataDir: string }> {
  const port = options.port ?? (await freePort());
  const dataDir = options.dataDir ?? tempDir('opsbro-rpc-pipe-');
  const rpc = createClusterRpc({ host: '127.0.0.1', clusterKey: KEY, ...options, port, dataDir });
  if (!(rpc instanceof Libp2pClusterRpc))
    throw new Error('createClusterRpc no longer builds a Libp2pClusterRpc');
  // Both ends register the protocol as pipelined: the caller requests it as it serves it.
  rpc.handle(PIPE, handler ?? (() => Promise.reject(new Error('this node only calls'))), { pipelined: true });
  for (const [protocol, [served, handleOptions]] of Object.entries(more))
    rpc.handle(protocol, served, handleOptions);
  await rpc.start();
  started.add(rpc);
  return { rpc, port, dataDir };
}

const KEY = randomBytes(32);
const target = (node: { port: number; rpc: Libp2pClusterRpc }) => ({
  host: '127.0.0.1',
  port: node.port,
  peerId: node.rpc.peerId,
});

/** A handler whose answers wait until the test releases them, in the order it chooses. */
function heldHandler(): { handler: RpcHandler; held: Array<() => void>; arrived: () => number } {
  const held: Array<() => void> = [];
  return {
    handler: (request) =>
      new Promise<Uint8Array>((resolve) => {
        held.push(() => resolve(request));
      }),
    held,
    arrived: () => held.length,
  };
}

describe('a pipelined protocol between two nodes', () => {
  it('carries 200 concurrent requests on one stream, each answer matched to its request whatever the order', async () => {
    const { handler, held, arrived } = heldHandler();
    const server = await startNode(handler);
    const client = await startNode(undefined);
    const answers = Array.from({ length: 200 }, (_, index) =>
      client.rpc.request(target(server), PIPE, new TextEncoder().encode(`request ${index}`), 10_000),
    );
    // The caller lets 64 through to one target at a time; the rest wait their turn.
    await expect.poll(arrived, { timeout: 5_000 }).toBe(64);
    for (let answered = 0; answered < 200;) {
      await expect.poll(arrived, { timeout: 5_000 }).toBeGreaterThan(0);
      // Newest first: the answers go back out of order on the stream.
      const waiting = held.splice(0).reverse();
      for (const release of waiting) release();
      answered += waiting.length;
    }
    const texts = (await Promise.all(answers)).map((bytes) => new TextDecoder().decode(bytes));
    expect(texts).toEqual(Array.from({ length: 200 }, (_, index) => `request ${index}`));
    expect(server.rpc.pipelinedStreams().serving).toBe(1);
    expect(client.rpc.pipelinedStreams().calling).toBe(1);
  });

  it("reports one request's handler error and runs the others on the same stream", async () => {
    const server = await startNode((request) =>
      request[0] === 13 ? Promise.reject(new Error('unlucky thirteen')) : Promise.resolve(request),
    );
    const client = await startNode(undefined);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, (_, index) =>
        client.rpc.request(target(server), PIPE, Uint8Array.of(index)),
      ),
    );
    outcomes.forEach((outcome, index) => {
      if (index === 13) {
        expect(outcome.status).toBe('rejected');
        const error = (outcome as PromiseRejectedResult).reason as ClusterRpcError;
        expect(error.code).toBe('handler-failed');
        expect(error.message).toContain('unlucky thirteen');
      } else expect(outcome).toEqual({ status: 'fulfilled', value: Uint8Array.of(index) });
    });
    expect(server.rpc.pipelinedStreams().serving).toBe(1);
    // The exposition's counts (opsbro_rpc_requests_total): each side, by protocol and outcome.
    const sorted = (counts: ReturnType<Libp2pClusterRpc['requestCounts']>) =>
      [...counts].sort((a, b) => a.outcome.localeCompare(b.outcome));
    expect(sorted(client.rpc.requestCounts())).toEqual([
      { direction: 'sent', protocol: PIPE, outcome: 'handler-failed', count: 1 },
      { direction: 'sent', protocol: PIPE, outcome: 'ok', count: 19 },
    ]);
    expect(sorted(server.rpc.requestCounts())).toEqual([
      { direction: 'served', protocol: PIPE, outcome: 'error', count: 1 },
      { direction: 'served', protocol: PIPE, outcome: 'ok', count: 19 },
    ]);
    // Twenty requests, one connection (opsbro_rpc_connections_opened_total): one handshake each side.
    expect(client.rpc.connectionCounts()).toEqual({ inbound: 0, outbound: 1 });
    expect(server.rpc.connectionCounts()).toEqual({ inbound: 1, outbound: 0 });
  });

  it('refuses a request over the receiver limit without running the handler; the stream goes on', async () => {
    let calls = 0;
    const server = await startNode(
      (request) => {
        calls++;
        return Promise.resolve(request.subarray(0, 1));
      },
      { maxMessageBytes: 1024 },
    );
    const client = await startNode(undefined, { maxMessageBytes: 1024 * 1024 });
    const refused = client.rpc.request(target(server), PIPE, new Uint8Array(4096).fill(7));
    const fine = client.rpc.request(target(server), PIPE, Uint8Array.of(9));
    const error = (await refused.catch((reason: unknown) => reason)) as ClusterRpcError;
    expect(error.code).toBe('refused');
    expect(error.message).toContain('4096 bytes');
    expect(await fine).toEqual(Uint8Array.of(9));
    expect(calls).toBe(1);
    expect(await client.rpc.request(target(server), PIPE, Uint8Array.of(3))).toEqual(Uint8Array.of(3));
    expect(server.rpc.pipelinedStreams().serving).toBe(1);
  });

  it('holds a request while the connection is quiet, up to the socket inactivity limit', async () => {
    // A blocking query holds its request with no byte on the connection: libp2p aborts a quiet
    // TCP connection after socketInactivityMs, so the default must outlast the longest wait.
    expect(SOCKET_INACTIVITY_MS).toBeGreaterThan(MAX_WAIT_MS + 5_000);
    // Two pairs of nodes, each holding one request on a quiet connection: under a 0.5 s limit the
    // request is lost; under a 10 s one, answered only once the first was lost, it is not.
    const [short, long] = await Promise.all(
      [500, 10_000].map(async (limitMs) => {
        const { handler, held } = heldHandler();
        const server = await startNode(handler, { socketInactivityMs: limitMs });
        const client = await startNode(undefined, { socketInactivityMs: limitMs });
        const asked = client.rpc.request(target(server), PIPE, Uint8Array.of(7), 10_000);
        asked.catch(() => undefined);
        await expect.poll(() => held.length, { timeout: 5_000 }).toBe(1);
        return { asked, held };
      }),
    );
    await expect(short!.asked).rejects.toMatchObject({ code: 'stream-failed' });
    long!.held[0]!();
    expect(await long!.asked).toEqual(Uint8Array.of(7));
  });

  it('times out one request and not its neighbours; the late answer is dropped', async () => {
    const { handler, held } = heldHandler();
    const server = await startNode(handler);
    const client = await startNode(undefined);
    const slow = client.rpc.request(target(server), PIPE, Uint8Array.of(1), 300);
    await expect(slow).rejects.toMatchObject({ code: 'timeout' });
    const next = client.rpc.request(target(server), PIPE, Uint8Array.of(2), 5_000);
    await expect.poll(() => held.length, { timeout: 5_000 }).toBe(2);
    held[0]!(); // the timed-out request's answer arrives late, for an id nobody waits for
    held[1]!();
    expect(await next).toEqual(Uint8Array.of(2));
    expect(client.rpc.pipelinedStreams().calling).toBe(1);
  });

  it('fails the requests in flight when the server goes, and reaches it again once it is back', async () => {
    const { handler } = heldHandler();
    const server = await startNode(handler);
    const client = await startNode(undefined);
    const inFlight = Array.from({ length: 5 }, () =>
      client.rpc.request(target(server), PIPE, Uint8Array.of(1), 10_000),
    );
    const outcomes = Promise.allSettled(inFlight);
    await expect.poll(() => server.rpc.pipelinedStreams().serving, { timeout: 5_000 }).toBe(1);
    await server.rpc.stop();
    started.delete(server.rpc);
    for (const outcome of await outcomes) {
      expect(outcome.status).toBe('rejected');
      expect(((outcome as PromiseRejectedResult).reason as ClusterRpcError).code).toBe('stream-failed');
    }
    const again = await startNode((request) => Promise.resolve(request), {
      port: server.port,
      dataDir: server.dataDir,
    });
    expect(await client.rpc.request(target(again), PIPE, Uint8Array.of(8))).toEqual(Uint8Array.of(8));
  });

  /** The local ends (address:port) of the TCP connections established to `port`. */
  const connectionsTo = (port: number): string[] =>
    execFileSync('ss', ['-Htn', 'state', 'established', `( dport = :${port} )`], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map((line) => line.trim().split(/\s+/)[2]!);

  it('keeps a pipelined stream and its connection over idle sweeps, up to pipelineIdleMs', async () => {
    const server = await startNode((request) => Promise.resolve(request), { idleSweepMs: 100 });
    const client = await startNode(undefined, { idleSweepMs: 100, pipelineIdleMs: 1500 });
    expect(await client.rpc.request(target(server), PIPE, Uint8Array.of(1))).toEqual(Uint8Array.of(1));
    const [first] = connectionsTo(server.port);
    // Idle for several sweeps (each would have closed it at the second before pipelineIdleMs).
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await client.rpc.request(target(server), PIPE, Uint8Array.of(2))).toEqual(Uint8Array.of(2));
    // The same connection (same local port): no new handshake.
    expect(connectionsTo(server.port)).toEqual([first]);
    await expect.poll(() => client.rpc.pipelinedStreams().calling, { timeout: 5_000, interval: 50 }).toBe(0);
    await expect.poll(() => connectionsTo(server.port).length, { timeout: 3_000, interval: 100 }).toBe(0);
  });

  it('closes an idle pipelined stream, and then the idle connection', async () => {
    const established = (port: number) =>
      execFileSync('ss', ['-Htn', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' })
        .split('\n')
        .filter(Boolean).length;
    const server = await startNode((request) => Promise.resolve(request), {
      idleSweepMs: 200,
      pipelineIdleMs: 0,
    });
    const client = await startNode(undefined, { idleSweepMs: 200, pipelineIdleMs: 0 });
    expect(await client.rpc.request(target(server), PIPE, Uint8Array.of(1))).toEqual(Uint8Array.of(1));
    expect(established(server.port)).toBe(1);
    await expect.poll(() => client.rpc.pipelinedStreams().calling, { timeout: 3_000, interval: 50 }).toBe(0);
    await expect.poll(() => established(server.port), { timeout: 3_000, interval: 100 }).toBe(0);
    expect(await client.rpc.request(target(server), PIPE, Uint8Array.of(2))).toEqual(Uint8Array.of(2));
  });
});

describe('a pipelined protocol with its own idle time', () => {
  it('closes its idle stream once a sweep finds it idle, while the default keeps the other on the same connection', async () => {
    const BRIEF = '/opsbro-test/brief/1.0.0';
    const echo: RpcHandler = (request) => Promise.resolve(request);
    const start = () =>
      startNode(
        echo,
        { idleSweepMs: 100, pipelineIdleMs: 60_000 },
        { [BRIEF]: [echo, { pipelined: true, idleMs: 0 }] },
      );
    const server = await start();
    const client = await start();
    expect(await client.rpc.request(target(server), PIPE, Uint8Array.of(1))).toEqual(Uint8Array.of(1));
    expect(await client.rpc.request(target(server), BRIEF, Uint8Array.of(2))).toEqual(Uint8Array.of(2));
    expect(client.rpc.pipelinedStreams().calling).toBe(2);
    // The brief protocol's stream goes at the second sweep that finds it idle; the other stays.
    await expect.poll(() => client.rpc.pipelinedStreams().calling, { timeout: 3_000, interval: 50 }).toBe(1);
    await expect.poll(() => server.rpc.pipelinedStreams().serving, { timeout: 3_000, interval: 50 }).toBe(1);
    expect(client.rpc.connectedPeers().has(server.rpc.peerId)).toBe(true);
    // Asked again: a new stream on the connection kept by the other.
    expect(await client.rpc.request(target(server), BRIEF, Uint8Array.of(3))).toEqual(Uint8Array.of(3));
    expect(client.rpc.connectionCounts()).toEqual({ inbound: 0, outbound: 1 });
  });
});

describe("a protocol's versions, the newest the peer serves (requestNewest)", () => {
  const V2 = '/opsbro-test/versioned/2.0.0';
  const V1 = '/opsbro-test/versioned/1.0.0';
  /** Answers which version served the request; `upgraded` also serves 2.0.0 (pipelined). */
  const versionedNode = (upgraded: boolean) => {
    const v1: [RpcHandler] = [() => Promise.resolve(Uint8Array.of(1))];
    const v2: [RpcHandler, HandleOptions] = [() => Promise.resolve(Uint8Array.of(2)), { pipelined: true }];
    return startNode(undefined, {}, upgraded ? { [V2]: v2, [V1]: v1 } : { [V1]: v1 });
  };

  it('asks an upgraded peer under 2.0.0 on one stream, and a peer serving only 1.0.0 under 1.0.0', async () => {
    const upgraded = await versionedNode(true);
    const older = await versionedNode(false);
    const caller = await versionedNode(true);
    const ask = (node: typeof older) => requestNewest(caller.rpc, target(node), [V2, V1], new Uint8Array(1));
    for (let round = 0; round < 3; round++) {
      expect(await ask(upgraded)).toEqual(Uint8Array.of(2));
      expect(await ask(older)).toEqual(Uint8Array.of(1));
    }
    expect(upgraded.rpc.pipelinedStreams().serving).toBe(1);
    const served = (node: typeof older) =>
      node.rpc
        .requestCounts()
        .filter((count) => count.direction === 'served')
        .map(({ protocol, outcome, count }) => [protocol, outcome, count]);
    expect(served(upgraded)).toEqual([[V2, 'ok', 3]]);
    expect(served(older)).toEqual([[V1, 'ok', 3]]);
    // Anything other than "not served" is not retried under an older version.
    await older.rpc.stop();
    await expect(
      requestNewest(caller.rpc, target(older), [V2, V1], new Uint8Array(1), 2_000),
    ).rejects.toThrow(new RegExp(V2));
  });
});

describe('a connection closed under a request', () => {
  // The peer's idle sweep closes a connection; until the close reaches this side, libp2p still
  // gives it as open, its muxer already closed (seen in CI: "The connection muxer is "closed" and
  // not "open""). The test closes the muxer of the client's end itself, which leaves that state.
  for (const pipelined of [true, false])
    it(`sends the request on a new connection (${pipelined ? 'pipelined' : 'a stream per request'})`, async () => {
      const protocol = pipelined ? PIPE : '/opsbro-test/plain/1.0.0';
      const echo: RpcHandler = (request) => Promise.resolve(request);
      const server = await startNode(echo, {}, pipelined ? {} : { [protocol]: [echo] });
      const client = await startNode(undefined);
      expect(await client.rpc.request(target(server), protocol, Uint8Array.of(1))).toEqual(Uint8Array.of(1));
      const node = (client.rpc as unknown as { node: Libp2p }).node;
      const [connection] = node.getConnections();
      const muxer = (connection as unknown as { muxer: { abort(error: Error): void; status: string } }).muxer;
      muxer.abort(new Error('closed by the test'));
      expect([connection!.status, muxer.status]).toEqual(['open', 'closed']);
      expect(await client.rpc.request(target(server), protocol, Uint8Array.of(2))).toEqual(Uint8Array.of(2));
      expect(node.getConnections().map((open: { id: string }) => open.id)).not.toContain(connection!.id);
    });
});

describe('tagged framing', () => {
  it('reassembles frames split and joined at any byte', () => {
    const frames = [
      encodeTaggedFrame('request', 1, Uint8Array.of(1, 2, 3)),
      encodeTaggedFrame('ok', 0xffff_ffff, new Uint8Array(0)),
      encodeTaggedFrame('handler-error', 7, new Uint8Array(300).fill(5)),
    ];
    const whole = new Uint8Array(frames.reduce((sum, frame) => sum + frame.byteLength, 0));
    let at = 0;
    for (const frame of frames) {
      whole.set(frame, at);
      at += frame.byteLength;
    }
    for (const step of [1, 2, 5, 9, 10, 64, whole.byteLength]) {
      const decoder = new TaggedFrameDecoder(1024);
      const got = [];
      for (let offset = 0; offset < whole.byteLength; offset += step)
        got.push(...decoder.push(whole.subarray(offset, offset + step)));
      expect(got.map((frame) => [frame.kind, frame.id, frame.body.byteLength])).toEqual([
        ['request', 1, 3],
        ['ok', 0xffff_ffff, 0],
        ['handler-error', 7, 300],
      ]);
      expect(decoder.atBoundary).toBe(true);
    }
  });

  it('skips an oversized body without keeping it, and refuses an unknown kind', () => {
    const decoder = new TaggedFrameDecoder(16);
    const big = encodeTaggedFrame('request', 4, new Uint8Array(1000));
    const small = encodeTaggedFrame('request', 5, Uint8Array.of(1));
    const got = [
      ...decoder.push(big.subarray(0, 500)),
      ...decoder.push(big.subarray(500)),
      ...decoder.push(small),
    ];
    expect(got.map((frame) => [frame.id, frame.oversized, frame.body.byteLength])).toEqual([
      [4, 1000, 0],
      [5, undefined, 1],
    ]);
    const bad = new Uint8Array(TAGGED_HEADER_BYTES);
    bad[0] = 99;
    expect(() => new TaggedFrameDecoder(16).push(bad)).toThrow(/unknown frame kind 99/);
  });
});
