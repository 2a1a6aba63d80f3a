// The cluster RPC port under attack by someone without the cluster key (issue 10, item 3): raw
// TCP connections that say nothing must not hold the port shut for the nodes that have the key.
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ClusterRpcError,
  createClusterRpc,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  type ClusterRpc,
  type ClusterRpcOptions,
  type RpcHandler,
} from '../agent/rpc/index.js';
import { MAX_PENDING_INBOUND, NONCE_WAIT_GRACE_MS } from '../agent/rpc/limits.js';
import { Libp2pClusterRpc } from '../agent/rpc/rpc-node.js';
import { cleanupAll, freePort, tempDir } from './helpers/agent-process.js';
import {
  startAttacker,
  type Attacker,
  type AttackerReport,
  type AttackerStats,
} from './helpers/rpc-attacker.js';

const ECHO = '/opsbro-test/echo/1.0.0';
/** How long a dialer waits for the remote's private-network nonce. */
const NONCE_WAIT_MS = DEFAULT_HANDSHAKE_TIMEOUT_MS + NONCE_WAIT_GRACE_MS;
const echo: RpcHandler = (request) => Promise.resolve(request);

const nodes = new Set<ClusterRpc>();
const attackers = new Set<Attacker>();
const rawSockets = new Set<Socket>();
const rawServers = new Set<Server>();

afterEach(async () => {
  await Promise.all([...attackers].map((attacker) => attacker.terminate()));
  attackers.clear();
  for (const socket of rawSockets) socket.destroy();
  rawSockets.clear();
  await Promise.all([...rawServers].map((server) => new Promise((resolve) => server.close(resolve))));
  rawServers.clear();
  await Promise.all([...nodes].map((rpc) => rpc.stop()));
  nodes.clear();
  cleanupAll();
});

interface TestNode {
  rpc: ClusterRpc;
  host: string;
  port: number;
  /** Inbound connections in their handshake at this node, from `address` or in total. */
  pending(address?: string): number;
  /** Pending connections this node aborted to give their slot to a newcomer, since its start. */
  evictions(): number;
}

async function startNode(
  host: string,
  options: Partial<ClusterRpcOptions> = {},
  handlers: Record<string, RpcHandler> = {},
): Promise<TestNode> {
  // A port free a moment ago, not held: when another process took it meanwhile, another (3 tries).
  let port = options.port ?? (await freePort());
  let rpc = createClusterRpc({ host, port, dataDir: tempDir('opsbro-rpc-'), ...options });
  for (let attempt = 1; ; attempt++) {
    for (const [protocol, handler] of Object.entries(handlers)) rpc.handle(protocol, handler);
    try {
      await rpc.start();
      break;
    } catch (error) {
      const taken = options.port === undefined && /already in use/.test((error as Error).message);
      if (!taken || attempt >= 3) throw error;
      port = await freePort();
      rpc = createClusterRpc({ host, port, dataDir: tempDir('opsbro-rpc-'), ...options });
    }
  }
  nodes.add(rpc);
  if (!(rpc instanceof Libp2pClusterRpc))
    throw new Error('createClusterRpc no longer builds a Libp2pClusterRpc');
  return {
    rpc,
    host,
    port,
    pending: (address) => rpc.pendingHandshakes(address),
    evictions: () => rpc.evictedHandshakes(),
  };
}

/** A raw TCP connection that says nothing; `closed` resolves (with its lifetime) when the node ends it. */
interface SilentConnection {
  socket: Socket;
  closed: Promise<number>;
}

function openSilent(port: number, localAddress: string, host = '127.0.0.1'): Promise<SilentConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, localAddress });
    rawSockets.add(socket);
    socket.resume(); // read and drop, so a close by the node is seen
    socket.on('error', () => undefined);
    socket.once('connect', () => {
      const connectedAt = performance.now();
      const closed = new Promise<number>((done) =>
        socket.once('close', () => done(performance.now() - connectedAt)),
      );
      resolve({ socket, closed });
    });
    socket.once('close', () =>
      reject(new Error(`connection from ${localAddress} closed before it connected`)),
    );
  });
}

/** The rejection of a request that must fail, with how long it took. */
async function failureOf(request: Promise<unknown>): Promise<{ error: ClusterRpcError; elapsedMs: number }> {
  const started = performance.now();
  try {
    await request;
  } catch (error) {
    expect(error).toBeInstanceOf(ClusterRpcError);
    return { error: error as ClusterRpcError, elapsedMs: performance.now() - started };
  }
  throw new Error('expected the request to fail');
}

/** Polls `condition` until it holds, or fails with `what` after `timeoutMs`. */
async function waitFor(
  condition: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** What a keyed node saw while an attacker held the server's pending slots. */
interface AttackOutcome {
  latenciesMs: number[];
  failures: string[];
  /** The server's pending handshakes just before each request (64: every slot taken). */
  pendingBeforeRequests: number[];
  during: AttackerStats;
  report: AttackerReport;
}

/**
 * For `attackMs`, sends requests from `client` to `server`, each over a new connection (a fresh
 * node each time, so a new handshake), then stops the attacker and reports.
 */
async function requestsDuringAttack(
  server: TestNode,
  client: TestNode,
  attacker: Attacker,
  attackMs: number,
): Promise<AttackOutcome> {
  const latenciesMs: number[] = [];
  const failures: string[] = [];
  const pendingBeforeRequests: number[] = [];
  const attackEnds = performance.now() + attackMs;
  let sent = 0;
  while (performance.now() < attackEnds) {
    await client.rpc.stop();
    await client.rpc.start();
    const payload = Uint8Array.of(sent++ % 256);
    pendingBeforeRequests.push(server.pending());
    const started = performance.now();
    try {
      const answer = await client.rpc.request({ host: server.host, port: server.port }, ECHO, payload, 3_000);
      expect(answer).toEqual(payload);
      latenciesMs.push(performance.now() - started);
    } catch (error) {
      failures.push(`after ${(performance.now() - started).toFixed(0)} ms: ${(error as Error).message}`);
    }
  }
  const during = await attacker.stats();
  const report = await attacker.stop();
  latenciesMs.sort((a, b) => a - b);
  return { latenciesMs, failures, pendingBeforeRequests, during, report };
}

function describeOutcome(what: string, outcome: AttackOutcome, attackMs: number): string {
  const { latenciesMs, failures, pendingBeforeRequests, during, report } = outcome;
  const full = pendingBeforeRequests.filter((pending) => pending === MAX_PENDING_INBOUND).length;
  return (
    `[rpc attack] ${what}: ${latenciesMs.length} requests with a new connection each during ${attackMs} ms: ` +
    `median ${(latenciesMs[Math.floor(latenciesMs.length / 2)] ?? NaN).toFixed(1)} ms, ` +
    `max ${(latenciesMs.at(-1) ?? NaN).toFixed(1)} ms; ${failures.length} failed${failures.length > 0 ? ` (first: ${failures[0]})` : ''}; ` +
    `${full} of ${pendingBeforeRequests.length} sent with every pending slot taken; ` +
    `attacker: ${during.connected} connections, ${during.open} open at the end, longest lived ${during.maxLifetimeMs.toFixed(0)} ms; ` +
    `after the attack its last ${report.openAtStop} connections were closed within ${report.lingerMs.toFixed(0)} ms`
  );
}

describe('the RPC port under a connection flood without the key', () => {
  it('keeps serving requests from a node with the key while 70 connections from one address are held open', async () => {
    const clusterKey = randomBytes(32);
    const server = await startNode('127.0.0.1', { clusterKey }, { [ECHO]: echo });
    const client = await startNode('127.0.0.2', { clusterKey });

    const attacker = startAttacker({
      host: server.host,
      port: server.port,
      localAddresses: ['127.0.0.9'],
      connectionsPerAddress: 70,
    });
    attackers.add(attacker);
    // The attack is on: all 70 connected (and, before the fix, holding every pending slot).
    await waitFor(
      async () => (await attacker.stats()).connected >= 70,
      5_000,
      'the attacker to connect 70 times',
    );

    const attackMs = 5_000;
    const outcome = await requestsDuringAttack(server, client, attacker, attackMs);
    console.log(describeOutcome('70 connections from one address', outcome, attackMs));
    expect(outcome.failures).toEqual([]);
    expect(outcome.latenciesMs.length).toBeGreaterThanOrEqual(5);
    expect(outcome.latenciesMs.at(-1)).toBeLessThan(2_000);
    // The node, not the attacker, ends each connection, within about the handshake deadline (1 s).
    expect(outcome.during.maxLifetimeMs).toBeLessThan(2_000);
    expect(outcome.report.lingerMs).toBeLessThan(2_000);
  }, 30_000);

  // 8 x 12 = 96 connections wanted, each address under its limit of 16: together they want more
  // than the 64 slots, as 4 x 16 did before slots could be taken back. 80 x 1: more addresses
  // than slots, so sharing by address alone cannot keep any slot for long (each newcomer takes
  // the oldest): the keyed node's handshake must fit in what is left.
  it.each([
    { addresses: 8, perAddress: 12 },
    { addresses: 80, perAddress: 1 },
  ])(
    'keeps serving a node with the key while $addresses addresses x $perAddress hold every pending slot, reconnecting at once',
    async ({ addresses, perAddress }) => {
      const clusterKey = randomBytes(32);
      const server = await startNode('127.0.0.1', { clusterKey }, { [ECHO]: echo });
      const client = await startNode('127.0.0.2', { clusterKey });

      const localAddresses = Array.from({ length: addresses }, (_, index) => `127.0.0.${20 + index}`);
      const attacker = startAttacker({
        host: server.host,
        port: server.port,
        localAddresses,
        connectionsPerAddress: perAddress,
      });
      attackers.add(attacker);
      await waitFor(
        () => server.pending() === MAX_PENDING_INBOUND,
        5_000,
        'the attacker to take every pending slot',
      );
      const evictionsBefore = server.evictions();

      const attackMs = 5_000;
      const outcome = await requestsDuringAttack(server, client, attacker, attackMs);
      const evictions = server.evictions() - evictionsBefore;
      console.log(
        describeOutcome(`${addresses} addresses x ${perAddress} connections`, outcome, attackMs) +
          `; ${evictions} pending connections evicted during the attack`,
      );
      expect(outcome.failures).toEqual([]);
      expect(outcome.latenciesMs.length).toBeGreaterThanOrEqual(5);
      expect(outcome.latenciesMs.at(-1)).toBeLessThan(2_000);
      // The port was held full, and the keyed node's connections got in by taking an attacker's slot.
      expect(outcome.pendingBeforeRequests.some((pending) => pending === MAX_PENDING_INBOUND)).toBe(true);
      expect(evictions).toBeGreaterThan(0);
      expect(outcome.during.maxLifetimeMs).toBeLessThan(2_000);
      expect(outcome.report.lingerMs).toBeLessThan(2_000);
    },
    30_000,
  );
});

describe('handshake failures say what happened', () => {
  it('tells a node with another key that the keys differ, within about the handshake deadline', async () => {
    const server = await startNode('127.0.0.1', { clusterKey: randomBytes(32) }, { [ECHO]: echo });
    const stranger = await startNode('127.0.0.2', { clusterKey: randomBytes(32) });
    // Several fresh connections: what the server does with garbage varies (fails at once, or waits
    // for more bytes until its deadline), the diagnosis must not.
    for (let attempt = 0; attempt < 5; attempt++) {
      const { error, elapsedMs } = await failureOf(
        stranger.rpc.request({ host: server.host, port: server.port }, ECHO, Uint8Array.of(1), 5_000),
      );
      expect(error.code).toBe('handshake-failed');
      expect(error.message).toMatch(/the two nodes do not have the same cluster key$/);
      expect(elapsedMs).toBeLessThan(DEFAULT_HANDSHAKE_TIMEOUT_MS + 1_000);
      if (attempt === 0)
        console.log(`[rpc] another key: ${error.code} after ${elapsedMs.toFixed(0)} ms: ${error.message}`);
    }
    await waitFor(() => server.pending() === 0, 2_000, 'the server to give back every pending slot');
  });

  it('reports a listener that accepts and says nothing as a handshake timeout, not a key problem', async () => {
    const port = await freePort();
    const silent = createServer((socket) => {
      rawSockets.add(socket);
      socket.on('error', () => undefined);
      socket.resume();
    });
    rawServers.add(silent);
    await new Promise<void>((resolve) => silent.listen(port, '127.0.0.1', resolve));

    const keyed = await startNode('127.0.0.2', { clusterKey: randomBytes(32) });
    const { error, elapsedMs } = await failureOf(
      keyed.rpc.request({ host: '127.0.0.1', port }, ECHO, Uint8Array.of(1), 5_000),
    );
    console.log(`[rpc] silent listener: ${error.code} after ${elapsedMs.toFixed(0)} ms: ${error.message}`);
    expect(error.code).toBe('timeout');
    expect(error.message).toMatch(
      new RegExp(
        `^handshake with 127\\.0\\.0\\.1:\\d+ timed out: it accepted the TCP connection but sent nothing within ${NONCE_WAIT_MS} ms`,
      ),
    );
    expect(error.message).not.toMatch(/key/);
    expect(elapsedMs).toBeGreaterThanOrEqual(NONCE_WAIT_MS - 50);
    expect(elapsedMs).toBeLessThan(NONCE_WAIT_MS + 1_000);

    // Without a key there is no private-network step: the request's own timeout, still not the key.
    const open = await startNode('127.0.0.3');
    const unkeyed = await failureOf(
      open.rpc.request({ host: '127.0.0.1', port }, ECHO, Uint8Array.of(1), 800),
    );
    expect(unkeyed.error.code).toBe('timeout');
    expect(unkeyed.error.message).toMatch(
      /timed out after 800 ms while connecting \(the TCP connection or the handshake did not complete in time\)/,
    );
    expect(unkeyed.error.message).not.toMatch(/key/);
  });

  it('closes a connection that says nothing within about the deadline', async () => {
    const server = await startNode('127.0.0.1', { clusterKey: randomBytes(32) }, { [ECHO]: echo });
    const silent = await openSilent(server.port, '127.0.0.9');
    await waitFor(() => server.pending('127.0.0.9') === 1, 2_000, 'the silent connection to be pending');
    const lifetimeMs = await silent.closed;
    expect(lifetimeMs).toBeGreaterThanOrEqual(DEFAULT_HANDSHAKE_TIMEOUT_MS - 50);
    expect(lifetimeMs).toBeLessThan(DEFAULT_HANDSHAKE_TIMEOUT_MS + 500);
    await waitFor(() => server.pending() === 0, 1_000, 'the slot to be given back');
  });

  it('says "limit" when a connection is refused at the per-address limit, and at the total limit', async () => {
    const clusterKey = randomBytes(32);
    const server = await startNode('127.0.0.1', { clusterKey, maxPendingPerAddress: 3 }, { [ECHO]: echo });
    const client = await startNode('127.0.0.2', { clusterKey });
    const target = { host: server.host, port: server.port };
    // The client dials from 127.0.0.1 (the kernel's source address for 127.0.0.0/8): fill that
    // address's slots with connections that say nothing.
    const holders = await Promise.all([1, 2, 3].map(() => openSilent(server.port, '127.0.0.1')));
    await waitFor(() => server.pending('127.0.0.1') === 3, 2_000, 'three pending connections from 127.0.0.1');
    const perAddress = await failureOf(client.rpc.request(target, ECHO, Uint8Array.of(1), 5_000));
    console.log(
      `[rpc] per-address limit: ${perAddress.error.code} after ${perAddress.elapsedMs.toFixed(0)} ms: ${perAddress.error.message}`,
    );
    expect(perAddress.error.code).toBe('busy');
    expect(perAddress.error.message).toMatch(
      /^127\.0\.0\.1:\d+ refused the connection: too many connections from this node's address .* over its per-address limit \(3\); retry later$/,
    );
    expect(perAddress.elapsedMs).toBeLessThan(500);
    // Once the node has closed the silent ones (the deadline), the same client gets in.
    await Promise.all(holders.map((holder) => holder.closed));
    expect(await client.rpc.request(target, ECHO, Uint8Array.of(2))).toEqual(Uint8Array.of(2));

    // Every slot taken (64), two each by 32 addresses, 127.0.0.1 among them: the client's address
    // holds as many as any other, so taking a slot from one would leave it with fewer.
    const addresses = ['127.0.0.1', ...Array.from({ length: 31 }, (_, index) => `127.0.0.${30 + index}`)];
    const fillers = await Promise.all(
      addresses.flatMap((address) => [1, 2].map(() => openSilent(server.port, address))),
    );
    await waitFor(() => server.pending() === 64, 2_000, 'every pending slot taken');
    await client.rpc.stop();
    await client.rpc.start();
    const total = await failureOf(client.rpc.request(target, ECHO, Uint8Array.of(3), 5_000));
    console.log(`[rpc] total limit: ${total.error.code}: ${total.error.message}`);
    expect(total.error.code).toBe('busy');
    expect(total.error.message).toMatch(
      /refused the connection: too many connections are in their handshake there, over its limit \(64\), and this node's address already holds as many of them as any other/,
    );
    expect(server.evictions()).toBe(0);
    for (const filler of fillers) filler.socket.destroy();
    await waitFor(() => server.pending() === 0, 2_000, 'every slot given back');
  });

  it('gives a newcomer the oldest slot of the address holding the most when every slot is taken', async () => {
    const clusterKey = randomBytes(32);
    // A long deadline: nothing here ends by the deadline, only by eviction or by the test.
    const server = await startNode('127.0.0.1', { clusterKey, handshakeTimeoutMs: 10_000 }, { [ECHO]: echo });
    const client = await startNode('127.0.0.2', { clusterKey });
    // Four addresses hold 12 each (the oldest slots), then 127.0.0.30 holds 16 (the most).
    const fewer = ['127.0.0.31', '127.0.0.32', '127.0.0.33', '127.0.0.34'];
    const older = await Promise.all(
      fewer.flatMap((address) => Array.from({ length: 12 }, () => openSilent(server.port, address))),
    );
    await waitFor(() => server.pending() === 48, 2_000, '48 pending connections');
    const oldestOfMost = await openSilent(server.port, '127.0.0.30');
    await waitFor(() => server.pending('127.0.0.30') === 1, 2_000, 'the first from 127.0.0.30 pending');
    const restOfMost = await Promise.all(
      Array.from({ length: 15 }, () => openSilent(server.port, '127.0.0.30')),
    );
    await waitFor(() => server.pending() === 64, 2_000, 'every pending slot taken');
    let oldestClosed = false;
    void oldestOfMost.closed.then(() => (oldestClosed = true));

    const started = performance.now();
    expect(
      await client.rpc.request({ host: server.host, port: server.port }, ECHO, Uint8Array.of(4)),
    ).toEqual(Uint8Array.of(4));
    const elapsedMs = performance.now() - started;
    await waitFor(() => oldestClosed, 2_000, 'the oldest connection from 127.0.0.30 to be closed');
    console.log(`[rpc] eviction: the request took ${elapsedMs.toFixed(0)} ms with every slot taken`);
    expect(elapsedMs).toBeLessThan(1_000);
    expect(server.evictions()).toBe(1);
    expect(server.pending('127.0.0.30')).toBe(15);
    for (const address of fewer) expect(server.pending(address)).toBe(12);
    expect(server.pending()).toBe(63); // the client's connection is upgraded: its slot is back
    for (const connection of [...older, ...restOfMost]) connection.socket.destroy();
    await waitFor(() => server.pending() === 0, 2_000, 'every slot given back');
  });

  it('says nothing listens when nothing does', async () => {
    const client = await startNode('127.0.0.2', { clusterKey: randomBytes(32) });
    const port = await freePort();
    const { error } = await failureOf(
      client.rpc.request({ host: '127.0.0.1', port }, ECHO, Uint8Array.of(1)),
    );
    expect(error.code).toBe('unreachable');
    expect(error.message).toBe(
      `nothing listens on 127.0.0.1:${port} (connection refused); is the agent running there, with this rpc port?`,
    );
  });
});

describe('the pending-handshake count', () => {
  it('gives every slot back: upgrade done, handshake failed, deadline passed, remote gone, refused', async () => {
    const clusterKey = randomBytes(32);
    const server = await startNode('127.0.0.1', { clusterKey, maxPendingPerAddress: 4 }, { [ECHO]: echo });
    const settled = (what: string): Promise<void> =>
      waitFor(() => server.pending() === 0, 2_000, `no pending slot after ${what}`);

    // Upgrade done: a node with the key.
    const friend = await startNode('127.0.0.2', { clusterKey });
    expect(
      await friend.rpc.request({ host: server.host, port: server.port }, ECHO, Uint8Array.of(1)),
    ).toEqual(Uint8Array.of(1));
    await settled('an upgrade');

    // Handshake failed: a node with another key.
    const stranger = await startNode('127.0.0.3', { clusterKey: randomBytes(32) });
    await failureOf(stranger.rpc.request({ host: server.host, port: server.port }, ECHO, Uint8Array.of(1)));
    await settled('a failed handshake');

    // Deadline passed: connections that say nothing, closed by the node.
    const quiet = await Promise.all([1, 2].map(() => openSilent(server.port, '127.0.0.10')));
    await waitFor(() => server.pending('127.0.0.10') === 2, 2_000, 'two quiet connections pending');
    await Promise.all(quiet.map((connection) => connection.closed));
    await settled('the deadline');

    // Remote gone: closed (FIN) or reset (RST) by the client in mid-handshake.
    const leaving = await Promise.all([1, 2, 3, 4].map(() => openSilent(server.port, '127.0.0.11')));
    await waitFor(() => server.pending('127.0.0.11') === 4, 2_000, 'four connections pending');
    leaving[0]!.socket.end();
    leaving[1]!.socket.destroy();
    leaving[2]!.socket.write(randomBytes(10));
    leaving[2]!.socket.resetAndDestroy();
    leaving[3]!.socket.write(randomBytes(40)); // a nonce and then some, then gone
    leaving[3]!.socket.resetAndDestroy();
    await waitFor(
      () => server.pending('127.0.0.11') === 0,
      2_000,
      'slots given back by connections the client closed',
    );
    await settled('closes by the client');

    // Refused: over the limit of 4, never counted, and the four admitted still given back.
    const crowd = await Promise.all(Array.from({ length: 7 }, () => openSilent(server.port, '127.0.0.12')));
    const lifetimes = await Promise.all(crowd.map((connection) => connection.closed));
    const refused = lifetimes.filter((lifetimeMs) => lifetimeMs < DEFAULT_HANDSHAKE_TIMEOUT_MS / 2);
    expect(refused.length).toBe(3);
    expect(Math.max(...lifetimes)).toBeLessThan(DEFAULT_HANDSHAKE_TIMEOUT_MS + 500);
    await settled('refusals');
  });
});
