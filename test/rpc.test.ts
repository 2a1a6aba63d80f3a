// Cluster RPC (agent/rpc): libp2p request/response between real nodes on 127.0.0.1, the private
// network keyed from the cluster key, the identity kept in the data dir, size limits, timeouts,
// and the wire framing on its own.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ClusterRpcError,
  createClusterRpc,
  IDENTITY_FILE_NAME,
  type ClusterRpc,
  type ClusterRpcOptions,
  type RpcHandler,
  type RpcTarget,
} from '../agent/rpc/index.js';
import {
  encodeFrameHeader,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  FrameFormatError,
  FrameTooLargeError,
} from '../agent/rpc/framing.js';
import { isNotServed } from '../agent/rpc/failures.js';
import { derivePreSharedKey, swarmKeyFile } from '../agent/rpc/private-network.js';
import { RequestGate } from '../agent/rpc/request-gate.js';
import { cleanupAll, freePort, tempDir } from './helpers/agent-process.js';

const ECHO = '/opsbro-test/echo/1.0.0';
const MiB = 1024 * 1024;

interface TestNode {
  rpc: ClusterRpc;
  port: number;
  dataDir: string;
  /** Where other nodes reach this one (with its peer id once started). */
  target(withPeerId?: boolean): RpcTarget;
}

const startedNodes = new Set<ClusterRpc>();

afterEach(async () => {
  await Promise.all([...startedNodes].map((rpc) => rpc.stop()));
  startedNodes.clear();
  cleanupAll();
});

async function makeNode(
  options: Partial<ClusterRpcOptions> = {},
  handlers: Record<string, RpcHandler> = {},
): Promise<TestNode> {
  const port = options.port ?? (await freePort());
  const dataDir = options.dataDir ?? tempDir('opsbro-rpc-');
  const rpc = createClusterRpc({ host: '127.0.0.1', ...options, port, dataDir });
  for (const [protocol, handler] of Object.entries(handlers)) rpc.handle(protocol, handler);
  return {
    rpc,
    port,
    dataDir,
    target: (withPeerId = false) => ({
      host: '127.0.0.1',
      port,
      ...(withPeerId ? { peerId: rpc.peerId } : {}),
    }),
  };
}

/**
 * A started node. Its port, unless given, is one freePort() found free a moment ago, not one it
 * holds: when another process took it meanwhile, the node starts again on another (3 tries).
 */
async function startNode(
  options: Partial<ClusterRpcOptions> = {},
  handlers: Record<string, RpcHandler> = {},
): Promise<TestNode> {
  for (let attempt = 1; ; attempt++) {
    const node = await makeNode(options, handlers);
    try {
      await node.rpc.start();
    } catch (error) {
      const taken = options.port === undefined && /already in use/.test((error as Error).message);
      if (!taken || attempt >= 3) throw error;
      continue;
    }
    startedNodes.add(node.rpc);
    return node;
  }
}

/** The rejection of a promise that must reject, with how long it took. */
async function rejectionOf(
  promise: Promise<unknown>,
): Promise<{ error: ClusterRpcError; elapsedMs: number }> {
  const started = performance.now();
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ClusterRpcError);
    return { error: error as ClusterRpcError, elapsedMs: performance.now() - started };
  }
  throw new Error('expected the promise to reject');
}

const echo: RpcHandler = (request) => Promise.resolve(request);

describe('cluster RPC between two nodes with the same cluster key', () => {
  it('round-trips a 1 MiB payload; the handler sees the caller peer id; times the first and later requests', async () => {
    const clusterKey = randomBytes(32);
    const seen: string[] = [];
    const server = await startNode(
      { clusterKey },
      {
        [ECHO]: (request, remote) => {
          seen.push(remote.peerId);
          // Answer something derived from the request, so an echo of our own buffer cannot pass.
          return Promise.resolve(request.slice().reverse());
        },
      },
    );
    const client = await startNode({ clusterKey });

    const small = randomBytes(64);
    let started = performance.now();
    const first = await client.rpc.request(server.target(), ECHO, small);
    const firstMs = performance.now() - started;
    expect(Buffer.from(first)).toEqual(Buffer.from(small).reverse());

    const laterMs: number[] = [];
    for (let i = 0; i < 20; i++) {
      started = performance.now();
      await client.rpc.request(server.target(), ECHO, small);
      laterMs.push(performance.now() - started);
    }
    laterMs.sort((a, b) => a - b);

    const payload = randomBytes(MiB);
    started = performance.now();
    const response = await client.rpc.request(server.target(true), ECHO, payload);
    const mibMs = performance.now() - started;
    expect(response.byteLength).toBe(MiB);
    expect(Buffer.from(response).equals(Buffer.from(payload).reverse())).toBe(true);

    // A new connection once the process is warm: the handshake cost without first-use JIT/loading.
    const other = await startNode({ clusterKey }, { [ECHO]: echo });
    started = performance.now();
    await client.rpc.request(other.target(), ECHO, small);
    const warmFirstMs = performance.now() - started;

    expect(seen.length).toBe(22);
    expect(new Set(seen)).toEqual(new Set([client.rpc.peerId]));
    expect(client.rpc.peerId).toMatch(/^12D3KooW/);
    expect(client.rpc.peerId).not.toBe(server.rpc.peerId);

    const median = laterMs[Math.floor(laterMs.length / 2)] ?? NaN;
    console.log(
      `[rpc timing] first request (TCP connect + pnet + Noise + yamux + stream) ${firstMs.toFixed(1)} ms ` +
        `(${warmFirstMs.toFixed(1)} ms to a second node, process warm); ` +
        `later requests on the same connection: median ${median.toFixed(2)} ms, ` +
        `min ${(laterMs[0] ?? NaN).toFixed(2)} ms, max ${(laterMs.at(-1) ?? NaN).toFixed(2)} ms (n=20); ` +
        `1 MiB round trip ${mibMs.toFixed(1)} ms`,
    );
  });

  it('rejects with the handler error message when the handler throws', async () => {
    const clusterKey = randomBytes(32);
    const server = await startNode(
      { clusterKey },
      {
        [ECHO]: () => Promise.reject(new Error('the KV store is read-only')),
        '/opsbro-test/sync-throw/1.0.0': () => {
          throw new Error('thrown synchronously');
        },
      },
    );
    const client = await startNode({ clusterKey });
    const { error, elapsedMs } = await rejectionOf(
      client.rpc.request(server.target(), ECHO, new Uint8Array(8)),
    );
    expect(error.code).toBe('handler-failed');
    expect(error.message).toContain('the KV store is read-only');
    expect(error.message).toContain(ECHO);
    expect(elapsedMs).toBeLessThan(2_000);
    // The connection is still good afterwards.
    await expect(client.rpc.request(server.target(), ECHO, new Uint8Array(1))).rejects.toThrow(/read-only/);
    // A handler that throws instead of returning a rejected promise is reported the same way.
    const thrown = await rejectionOf(
      client.rpc.request(server.target(), '/opsbro-test/sync-throw/1.0.0', new Uint8Array(1)),
    );
    expect(thrown.error.code).toBe('handler-failed');
    expect(thrown.error.message).toContain('failed: thrown synchronously');
  });

  it('refuses an unknown protocol', async () => {
    const clusterKey = randomBytes(32);
    const server = await startNode({ clusterKey }, { [ECHO]: echo });
    const client = await startNode({ clusterKey });
    const { error } = await rejectionOf(
      client.rpc.request(server.target(), '/opsbro-test/nope/1.0.0', new Uint8Array(1)),
    );
    expect(error.code).toBe('refused');
    expect(error.message).toContain('does not serve /opsbro-test/nope/1.0.0');
    // Told apart from other refusals: push-pull falls back to protocol 1 on it, nothing else.
    expect(isNotServed(error)).toBe(true);
    expect(isNotServed(new ClusterRpcError('refused', 'refused /x: too large'))).toBe(false);
  });

  it('serves many concurrent requests over one connection', async () => {
    const clusterKey = randomBytes(32);
    const callers = new Set<string>();
    const server = await startNode(
      { clusterKey },
      {
        [ECHO]: (request, remote) => {
          callers.add(remote.peerId);
          return Promise.resolve(request);
        },
      },
    );
    const client = await startNode({ clusterKey });
    const requests = Array.from({ length: 50 }, (_, index) =>
      client.rpc.request(server.target(), ECHO, Uint8Array.of(index)).then((answer) => answer[0]),
    );
    expect(await Promise.all(requests)).toEqual(Array.from({ length: 50 }, (_, index) => index));
    expect([...callers]).toEqual([client.rpc.peerId]);
  });

  it('times out a request whose handler never answers, and aborts the stream', async () => {
    const clusterKey = randomBytes(32);
    const server = await startNode(
      { clusterKey },
      {
        [ECHO]: () => new Promise<Uint8Array>(() => undefined),
        '/opsbro-test/ok/1.0.0': () => Promise.resolve(Uint8Array.of(1)),
      },
    );
    const client = await startNode({ clusterKey });
    const { error, elapsedMs } = await rejectionOf(
      client.rpc.request(server.target(), ECHO, new Uint8Array(1), 300),
    );
    expect(error.code).toBe('timeout');
    expect(error.message).toMatch(/timed out after 300 ms waiting for the response/);
    expect(elapsedMs).toBeGreaterThanOrEqual(290);
    expect(elapsedMs).toBeLessThan(1_500);
    // The connection survives the aborted stream.
    expect(await client.rpc.request(server.target(), '/opsbro-test/ok/1.0.0', new Uint8Array(0))).toEqual(
      Uint8Array.of(1),
    );
  });
});

describe('the private network', () => {
  it('keeps out a node with a different cluster key: the request rejects, the handler never runs', async () => {
    let calls = 0;
    const server = await startNode(
      { clusterKey: randomBytes(32) },
      {
        [ECHO]: (request) => {
          calls++;
          return Promise.resolve(request);
        },
      },
    );
    const stranger = await startNode({ clusterKey: randomBytes(32) });
    for (const withPeerId of [false, true]) {
      const { error, elapsedMs } = await rejectionOf(
        stranger.rpc.request(server.target(withPeerId), ECHO, new Uint8Array(8), 2_000),
      );
      // Depending on what the garbage decrypts to, the server gives up at once or at its 1 s
      // handshake deadline; either way the client is told why.
      console.log(
        `[rpc] different cluster key: ${error.code} after ${elapsedMs.toFixed(0)} ms: ${error.message}`,
      );
      expect(error.code).toBe('handshake-failed');
      expect(error.message).toMatch(/the two nodes do not have the same cluster key$/);
      expect(elapsedMs).toBeLessThan(2_000);
    }
    expect(calls).toBe(0);
  });

  it('keeps out a node without a key, and a keyed node cannot reach one without', async () => {
    let calls = 0;
    const handler: RpcHandler = (request) => {
      calls++;
      return Promise.resolve(request);
    };
    const keyed = await startNode({ clusterKey: randomBytes(32) }, { [ECHO]: handler });
    const open = await startNode({}, { [ECHO]: handler });
    const keyless = await rejectionOf(open.rpc.request(keyed.target(), ECHO, new Uint8Array(8), 2_000));
    const fromKeyed = await rejectionOf(keyed.rpc.request(open.target(), ECHO, new Uint8Array(8), 2_000));
    for (const [label, { error, elapsedMs }, diagnosis] of [
      ['no key -> key', keyless, /it has a cluster key and this node has none/],
      ['key -> no key', fromKeyed, /it has no cluster key while this node has one/],
    ] as const) {
      console.log(`[rpc] ${label}: ${error.code} after ${elapsedMs.toFixed(0)} ms: ${error.message}`);
      expect(error.code).toBe('handshake-failed');
      expect(error.message).toMatch(diagnosis);
    }
    expect(calls).toBe(0);
  });

  it('works between two nodes without keys', async () => {
    const server = await startNode({}, { [ECHO]: echo });
    const client = await startNode({});
    expect(await client.rpc.request(server.target(true), ECHO, Uint8Array.of(7, 8, 9))).toEqual(
      Uint8Array.of(7, 8, 9),
    );
  });

  it('derives a stable pre-shared key from the cluster key with HKDF, distinct from the cluster key', () => {
    const clusterKey = randomBytes(32);
    const psk = derivePreSharedKey(clusterKey);
    expect(psk.byteLength).toBe(32);
    expect(Buffer.from(derivePreSharedKey(clusterKey))).toEqual(Buffer.from(psk));
    expect(Buffer.from(psk).equals(clusterKey)).toBe(false);
    expect(Buffer.from(derivePreSharedKey(randomBytes(32))).equals(Buffer.from(psk))).toBe(false);
    expect(new TextDecoder().decode(swarmKeyFile(psk))).toBe(
      `/key/swarm/psk/1.0.0/\n/base16/\n${Buffer.from(psk).toString('hex')}`,
    );
    expect(() => derivePreSharedKey(randomBytes(16))).toThrow(/32 bytes/);
    expect(() =>
      createClusterRpc({ host: '127.0.0.1', port: 1, dataDir: tempDir(), clusterKey: randomBytes(31) }),
    ).toThrow(/cluster key is 31 bytes/);
  });
});

describe('identity', () => {
  it('keeps the peer id across restarts with the same data dir, in a 0600 file', async () => {
    const dataDir = tempDir('opsbro-rpc-');
    const first = await startNode({ dataDir });
    const peerId = first.rpc.peerId;
    await first.rpc.stop();
    const path = join(dataDir, IDENTITY_FILE_NAME);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const keyBytes = readFileSync(path);

    const second = await startNode({ dataDir, port: first.port });
    expect(second.rpc.peerId).toBe(peerId);
    expect(readFileSync(path).equals(keyBytes)).toBe(true);

    const other = await startNode({});
    expect(other.rpc.peerId).not.toBe(peerId);
    // Other nodes can name it by that peer id.
    const server = await startNode({ dataDir: tempDir('opsbro-rpc-') }, { [ECHO]: echo });
    await second.rpc.stop();
    const third = await startNode({ dataDir });
    expect(await third.rpc.request(server.target(true), ECHO, Uint8Array.of(1))).toEqual(Uint8Array.of(1));
  });

  it('refuses an identity file that is a symbolic link or readable by others', async () => {
    const dataDir = tempDir('opsbro-rpc-');
    const elsewhere = join(tempDir('opsbro-rpc-'), 'target.key');
    writeFileSync(elsewhere, 'not a key', { mode: 0o600 });
    const path = join(dataDir, IDENTITY_FILE_NAME);
    symlinkSync(elsewhere, path);
    const linked = await makeNode({ dataDir });
    await expect(linked.rpc.start()).rejects.toThrow(/symbolic link/);
    expect(lstatSync(path).isSymbolicLink()).toBe(true);
    expect(readFileSync(elsewhere, 'utf8')).toBe('not a key');

    const looseDir = tempDir('opsbro-rpc-');
    const created = await startNode({ dataDir: looseDir });
    await created.rpc.stop();
    chmodSync(join(looseDir, IDENTITY_FILE_NAME), 0o644);
    const loose = await makeNode({ dataDir: looseDir });
    await expect(loose.rpc.start()).rejects.toThrow(/chmod 600/);
  });

  it('has no peer id before start', async () => {
    const node = await makeNode({});
    expect(() => node.rpc.peerId).toThrow(/start\(\)/);
  });
});

describe('limits, failures, lifecycle', () => {
  it('refuses an oversized request at the receiver without running the handler', async () => {
    const clusterKey = randomBytes(32);
    let calls = 0;
    const server = await startNode(
      { clusterKey, maxMessageBytes: 64 * 1024 },
      {
        [ECHO]: (request) => {
          calls++;
          return Promise.resolve(request);
        },
      },
    );
    const client = await startNode({ clusterKey });
    const { error, elapsedMs } = await rejectionOf(
      client.rpc.request(server.target(), ECHO, new Uint8Array(MiB)),
    );
    expect(error.code).toBe('refused');
    expect(error.message).toMatch(/1048576 bytes, over this node's maxMessageBytes \(65536\)/);
    expect(elapsedMs).toBeLessThan(2_000);
    expect(calls).toBe(0);
    // At the limit is fine.
    expect((await client.rpc.request(server.target(), ECHO, new Uint8Array(64 * 1024))).byteLength).toBe(
      64 * 1024,
    );
  });

  it('refuses to send an oversized request, and refuses an oversized response', async () => {
    const clusterKey = randomBytes(32);
    const server = await startNode({ clusterKey }, { [ECHO]: () => Promise.resolve(new Uint8Array(MiB)) });
    const client = await startNode({ clusterKey, maxMessageBytes: 4096 });

    const tooBig = await rejectionOf(client.rpc.request(server.target(), ECHO, new Uint8Array(4097)));
    expect(tooBig.error.code).toBe('too-large');
    expect(tooBig.error.message).toMatch(/4097 bytes, over maxMessageBytes \(4096\)/);

    const bigAnswer = await rejectionOf(client.rpc.request(server.target(), ECHO, new Uint8Array(1)));
    expect(bigAnswer.error.code).toBe('too-large');
    expect(bigAnswer.error.message).toMatch(
      /response .* is 1048576 bytes, over maxMessageBytes \(4096\); refused/,
    );
  });

  it('reports a response over the server limit as a handler failure', async () => {
    const clusterKey = randomBytes(32);
    const server = await startNode(
      { clusterKey, maxMessageBytes: 1024 },
      {
        [ECHO]: () => Promise.resolve(new Uint8Array(2048)),
      },
    );
    const client = await startNode({ clusterKey });
    const { error } = await rejectionOf(client.rpc.request(server.target(), ECHO, new Uint8Array(1)));
    expect(error.code).toBe('handler-failed');
    expect(error.message).toMatch(/2048 bytes, over maxMessageBytes \(1024\)/);
  });

  it('rejects a request to a dead port quickly', async () => {
    const client = await startNode({});
    const deadPort = await freePort();
    const { error, elapsedMs } = await rejectionOf(
      client.rpc.request({ host: '127.0.0.1', port: deadPort }, ECHO, new Uint8Array(1)),
    );
    expect(error.code).toBe('unreachable');
    expect(error.message).toContain(`127.0.0.1:${deadPort}`);
    expect(elapsedMs).toBeLessThan(1_000);
  });

  it('rejects a target that is not an IP address, and a request before start', async () => {
    const client = await startNode({});
    await expect(
      client.rpc.request({ host: 'example.org', port: 6767 }, ECHO, new Uint8Array(1)),
    ).rejects.toThrow(/not an IPv4 or IPv6 address/);
    await expect(
      client.rpc.request({ host: '127.0.0.1', port: 6767, peerId: 'not-a-peer-id' }, ECHO, new Uint8Array(1)),
    ).rejects.toThrow(/not a libp2p peer id/);
    const idle = await makeNode({});
    await expect(
      idle.rpc.request({ host: '127.0.0.1', port: 6767 }, ECHO, new Uint8Array(1)),
    ).rejects.toThrow(/not started/);
  });

  it('start() rejects with a clear message when the port is taken', async () => {
    const first = await startNode({});
    const second = await makeNode({ port: first.port });
    const { error } = await rejectionOf(second.rpc.start());
    expect(error.code).toBe('listen-failed');
    expect(error.message).toBe(
      `cluster RPC cannot listen on 127.0.0.1:${first.port}: the port is already in use (another agent or program holds it); stop it, or choose another rpc port`,
    );
  });

  it('closes connections that stay idle, so an agent does not keep one per peer it ever synced with', async () => {
    const established = (port: number) =>
      execFileSync('ss', ['-Htn', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' })
        .split('\n')
        .filter(Boolean).length;
    // Sweeps 1 s apart: at 200 ms, a loaded machine could run two between the request's answer and
    // the first count, and the connection was gone before it was seen.
    const server = await startNode({ idleSweepMs: 1000, pipelineIdleMs: 0 }, { '/test/echo/1': echo });
    const client = await startNode({ idleSweepMs: 1000, pipelineIdleMs: 0 });
    await client.rpc.request(server.target(), '/test/echo/1', new Uint8Array([1]));
    expect(established(server.port)).toBe(1);
    // Two sweeps without a stream: closed (by either side).
    await expect.poll(() => established(server.port), { timeout: 6000, interval: 100 }).toBe(0);
    // And a later request simply dials again.
    expect(await client.rpc.request(server.target(), '/test/echo/1', new Uint8Array([2]))).toEqual(
      new Uint8Array([2]),
    );
  });

  it('stop() completes quickly with open connections and a request in flight', async () => {
    const clusterKey = randomBytes(32);
    let hangReached!: () => void;
    const inHandler = new Promise<void>((resolve) => (hangReached = resolve));
    const server = await startNode(
      { clusterKey },
      {
        [ECHO]: echo,
        '/opsbro-test/hang/1.0.0': () => {
          hangReached();
          return new Promise<Uint8Array>(() => undefined);
        },
      },
    );
    const client = await startNode({ clusterKey });
    await client.rpc.request(server.target(), ECHO, new Uint8Array(10));
    const pending = rejectionOf(
      client.rpc.request(server.target(), '/opsbro-test/hang/1.0.0', new Uint8Array(1), 10_000),
    );
    // The request is in flight: the server's handler holds it.
    await inHandler;

    let started = performance.now();
    await server.rpc.stop();
    const serverStopMs = performance.now() - started;
    const { error, elapsedMs } = await pending;
    expect(error.code).not.toBe('timeout');
    expect(elapsedMs).toBeLessThan(3_000);

    started = performance.now();
    await client.rpc.stop();
    const clientStopMs = performance.now() - started;
    expect(serverStopMs).toBeLessThan(2_000);
    expect(clientStopMs).toBeLessThan(2_000);
    console.log(
      `[rpc timing] stop(): server ${serverStopMs.toFixed(1)} ms, client ${clientStopMs.toFixed(1)} ms`,
    );

    // Stopped nodes refuse requests; stopping twice is harmless.
    await expect(client.rpc.request(server.target(), ECHO, new Uint8Array(1))).rejects.toThrow(/not started/);
    await client.rpc.stop();
  });

  it('has Promise.withResolvers, installed where the runtime lacks it (Node 20)', async () => {
    const { withResolvers } = Promise as unknown as {
      withResolvers: <T>() => {
        promise: Promise<T>;
        resolve: (value: T) => void;
        reject: (reason: unknown) => void;
      };
    };
    expect(typeof withResolvers).toBe('function');
    const resolved = withResolvers.call(Promise) as {
      promise: Promise<number>;
      resolve: (value: number) => void;
    };
    resolved.resolve(42);
    expect(await resolved.promise).toBe(42);
    const rejected = withResolvers.call(Promise) as {
      promise: Promise<number>;
      reject: (reason: unknown) => void;
    };
    rejected.reject(new Error('no'));
    await expect(rejected.promise).rejects.toThrow('no');
  });

  it('queues requests beyond the per-target cap, in order, and lets a waiting one time out', async () => {
    const gate = new RequestGate(2);
    const never = new AbortController().signal;
    const first = await gate.enter('a', never);
    const second = await gate.enter('a', never);
    const order: string[] = [];
    const third = gate.enter('a', never).then((release) => {
      order.push('third');
      return release;
    });
    const impatient = new AbortController();
    const fourth = gate.enter('a', impatient.signal);
    const other = await gate.enter('b', never); // another target is not held up
    expect(gate.inFlight('a')).toBe(2);
    impatient.abort(new Error('gave up'));
    await expect(fourth).rejects.toThrow('gave up');
    first();
    first(); // releasing twice gives back one slot only
    (await third)();
    expect(order).toEqual(['third']);
    expect(gate.inFlight('a')).toBe(1);
    second();
    other();
    expect(gate.inFlight('a')).toBe(0);
    expect(gate.inFlight('b')).toBe(0);
  });
});

describe('framing', () => {
  const frame = (kind: 'request' | 'ok', body: Uint8Array): Uint8Array =>
    Buffer.concat([encodeFrameHeader(kind, body.byteLength), body]);

  it('reassembles a frame from chunks of any size', () => {
    const body = randomBytes(1000);
    const bytes = frame('ok', body);
    for (const chunkSize of [1, 3, 5, 7, 999, bytes.byteLength]) {
      const decoder = new FrameDecoder(1000);
      let result;
      for (let offset = 0; offset < bytes.byteLength; offset += chunkSize) {
        expect(result).toBeUndefined();
        result = decoder.push(bytes.subarray(offset, offset + chunkSize));
      }
      expect(result?.kind).toBe('ok');
      expect(Buffer.from(result?.body ?? []).equals(body)).toBe(true);
    }
  });

  it('refuses an oversized frame as soon as its header is in', () => {
    const decoder = new FrameDecoder(1024);
    const header = encodeFrameHeader('request', 1025);
    expect(decoder.push(header.subarray(0, FRAME_HEADER_BYTES - 1))).toBeUndefined();
    expect(() => decoder.push(header.subarray(FRAME_HEADER_BYTES - 1))).toThrow(FrameTooLargeError);
    // A header announcing 4 GiB is refused the same way, with nothing allocated for it.
    expect(() => new FrameDecoder(1024).push(encodeFrameHeader('request', 0xffff_ffff))).toThrow(
      /4294967295 bytes/,
    );
  });

  it('refuses bytes past the end of the frame and unknown kinds', () => {
    const decoder = new FrameDecoder(100);
    expect(() =>
      decoder.push(Buffer.concat([frame('request', Uint8Array.of(1, 2)), Uint8Array.of(9)])),
    ).toThrow(FrameFormatError);
    expect(() => new FrameDecoder(100).push(Uint8Array.of(99, 0, 0, 0, 0))).toThrow(/unknown frame kind 99/);
    const empty = new FrameDecoder(0).push(encodeFrameHeader('ok', 0));
    expect(empty?.body.byteLength).toBe(0);
  });
});
