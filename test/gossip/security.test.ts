// Encrypted gossip between real agents: a wrong key or no key gets nobody in; keys rotate
// cluster-wide without downtime; random, truncated and replayed packets are dropped and counted.
// Each case forms its own cluster (its own key, its own block of addresses) and stops it after.
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeMessage, encodePacket, MessageType } from '../../agent/gossip/codec.js';
import { fingerprint, Keyring } from '../../agent/gossip/keyring.js';
import { cleanupAll, httpGet, runCli } from '../helpers/agent-process.js';
import { type GossipAgent, startGossipAgent, viewOf, waitFor } from '../helpers/gossip-agents.js';

afterEach(cleanupAll);

const newKey = () => randomBytes(32).toString('base64');

type Drops = Record<'decrypt' | 'malformed' | 'replay' | 'plaintext-refused', number>;

async function stats(agent: GossipAgent): Promise<{ dropped: Drops; packetsIn: number }> {
  return JSON.parse((await httpGet(`${agent.api}/gossip/stats`)).body) as {
    dropped: Drops;
    packetsIn: number;
  };
}

async function allAlive(agents: GossipAgent[], count: number): Promise<boolean> {
  return (await Promise.all(agents.map(viewOf))).every(
    (view) => Object.values(view).filter((state) => state === 'alive').length === count,
  );
}

/** POST /agent/join through the CLI: the exit code and what it printed on stderr. */
function joinThrough(agent: GossipAgent, target: string): { code: number | null; stderr: string } {
  const { code, stderr } = runCli(['gossip', 'join', target, '--api', agent.api]);
  return { code, stderr: stderr.trim() };
}

describe('join diagnostics: why a join got no answer', () => {
  // Each case on its own addresses, 127.24.0.x; nothing ever runs on .9.
  it('a keyed node joining a node with another key: "holds another cluster key"', async () => {
    const [keyed, other] = await Promise.all([
      startGossipAgent(24, 1, { key: newKey() }),
      startGossipAgent(24, 2, { key: newKey() }),
    ]);
    expect(joinThrough(keyed, '127.24.0.2')).toEqual({
      code: 1,
      stderr:
        'opsbro: the node at 127.24.0.2 holds another cluster key (its cluster RPC at 127.24.0.2:6767 fails the pre-shared-key exchange with ours)',
    });
    expect(Object.keys(await viewOf(keyed))).toEqual(['node-1']);
    expect(Object.keys(await viewOf(other))).toEqual(['node-2']);
  }, 60_000);

  it('an open node joining a keyed one, then the keyed one joining it back', async () => {
    const [keyed, open] = await Promise.all([
      startGossipAgent(24, 3, { key: newKey() }),
      startGossipAgent(24, 4),
    ]);
    // Told by the cluster RPC's handshake: the keyed node starts the pre-shared-key exchange.
    expect(joinThrough(open, '127.24.0.3:6768')).toEqual({
      code: 1,
      stderr:
        'opsbro: the node at 127.24.0.3:6768 has a cluster key while this node has none (its cluster RPC at 127.24.0.3:6767 starts the pre-shared-key exchange)',
    });
    // The open node's join pings reached the keyed one in clear: that says it first.
    expect(joinThrough(keyed, '127.24.0.4')).toEqual({
      code: 1,
      stderr:
        'opsbro: the node at 127.24.0.4 has no cluster key while this node has one (its packets come unencrypted)',
    });
  }, 60_000);

  it('a keyed node joining an open one that never reached it', async () => {
    const [keyed] = await Promise.all([
      startGossipAgent(24, 10, { key: newKey() }),
      startGossipAgent(24, 11),
    ]);
    expect(joinThrough(keyed, '127.24.0.11')).toEqual({
      code: 1,
      stderr:
        'opsbro: the node at 127.24.0.11 has no cluster key while this node has one (its cluster RPC at 127.24.0.11:6767 does not start the pre-shared-key exchange)',
    });
  }, 60_000);

  it('nothing listening at all: "nothing there, or a firewall"; this node itself; several addresses, each explained', async () => {
    const [keyed] = await Promise.all([
      startGossipAgent(24, 5, { key: newKey() }),
      startGossipAgent(24, 6, { key: newKey() }),
    ]);
    expect(joinThrough(keyed, '127.24.0.9')).toEqual({
      code: 1,
      stderr: 'opsbro: no node answered at 127.24.0.9: nothing there, or a firewall',
    });
    expect(joinThrough(keyed, '127.24.0.5')).toEqual({
      code: 1,
      stderr: 'opsbro: 127.24.0.5 is this node itself',
    });
    const both = runCli(['gossip', 'join', '127.24.0.9', '127.24.0.6', '--api', keyed.api]);
    expect(both.code).toBe(1);
    expect(both.stderr.trim()).toBe(
      'opsbro: no node answered at 127.24.0.9: nothing there, or a firewall; ' +
        'the node at 127.24.0.6 holds another cluster key (its cluster RPC at 127.24.0.6:6767 fails the pre-shared-key exchange with ours)',
    );
  }, 60_000);

  it('packets from the target that do not open with our key say so (it tries to join us)', async () => {
    const keyed = await startGossipAgent(24, 7, { key: newKey() });
    // node-8, with another key, keeps trying to join node-7: node-7 drops its pings.
    const seeking = await startGossipAgent(24, 8, { key: newKey(), seeds: ['127.24.0.7'] });
    await waitFor(
      async () => (await stats(keyed)).dropped.decrypt > 0,
      10_000,
      'node-7 drops the pings of node-8',
    );
    expect(joinThrough(keyed, '127.24.0.8')).toEqual({
      code: 1,
      stderr: 'opsbro: the node at 127.24.0.8 holds another cluster key (its packets do not open with ours)',
    });
    expect(Object.keys(await viewOf(seeking))).toEqual(['node-8']);
  }, 60_000);
});

/** Three agents on 127.`block`.0.1-3 sharing a new key, the cluster formed. */
async function encryptedCluster(block: number): Promise<{ key: string; agents: GossipAgent[] }> {
  const key = newKey();
  const first = await startGossipAgent(block, 1, { key });
  const others = await Promise.all(
    [2, 3].map((index) => startGossipAgent(block, index, { key, seeds: [first.address] })),
  );
  const agents = [first, ...others];
  await waitFor(() => allAlive(agents, 3), 15_000, 'three alive');
  return { key, agents };
}

describe('encrypted cluster', () => {
  it('forms with a shared key and says encryption is on', async () => {
    const { key, agents } = await encryptedCluster(21);
    const info = JSON.parse(runCli(['agent', 'info', '--json', '--api', agents[0]!.api]).stdout) as {
      encryption: { enabled: boolean; primary_fingerprint?: string };
    };
    expect(info.encryption).toEqual({
      enabled: true,
      primary_fingerprint: fingerprint(Buffer.from(key, 'base64')),
    });
  }, 60_000);

  it('refuses an agent with another key, and one without a key; both are counted as drops', async () => {
    const { agents } = await encryptedCluster(26);
    const before = await stats(agents[0]!);
    const stranger = await startGossipAgent(26, 4, { key: newKey() });
    const join = runCli(['gossip', 'join', '127.26.0.1', '--api', stranger.api]);
    expect(join.code).toBe(1);
    expect(join.stderr).toBe(
      'opsbro: the node at 127.26.0.1 holds another cluster key (its cluster RPC at 127.26.0.1:6767 fails the pre-shared-key exchange with ours)\n',
    );
    const open = await startGossipAgent(26, 5);
    expect(runCli(['gossip', 'join', '127.26.0.1', '--api', open.api]).code).toBe(1);
    const after = await stats(agents[0]!);
    expect(after.dropped.decrypt).toBeGreaterThan(before.dropped.decrypt);
    expect(after.dropped['plaintext-refused']).toBeGreaterThan(before.dropped['plaintext-refused']);
    for (const member of agents)
      expect(Object.keys(await viewOf(member)).sort()).toEqual(['node-1', 'node-2', 'node-3']);
    expect(Object.keys(await viewOf(stranger))).toEqual(['node-4']);
  }, 60_000);

  it('drops random, truncated and replayed packets without harm', async () => {
    const { key, agents } = await encryptedCluster(27);
    const target = agents[0]!;
    const before = await stats(target);
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.27.0.99', resolve));
    let sent = 0;
    // Paced: a burst of 280 KB would overflow the agent's socket buffer in the kernel, and
    // packets the kernel drops never reach the agent's counters.
    const send = async (packet: Uint8Array) => {
      if (++sent % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      await sendNow(packet);
    };
    const sendNow = (packet: Uint8Array) =>
      new Promise<void>((resolve, reject) =>
        socket.send(packet, 6768, target.address, (error) => (error ? reject(error) : resolve())),
      );

    // A valid packet sealed with the cluster key: accepted once, then a replay.
    const keyring = new Keyring([Buffer.from(key, 'base64')]);
    const ping = encodeMessage({ type: MessageType.Ping, seq: 1, targetId: '*' });
    const sealed = keyring.seal(
      encodePacket({ senderId: 'fuzzer', sequence: Date.now() * 1000, messages: [ping] }),
    );
    await send(sealed);
    await send(sealed);
    for (let index = 0; index < 200; index++) await send(randomBytes(1 + Math.floor(Math.random() * 1400)));
    // Random bodies behind a valid encryption header: authentication fails.
    for (let index = 0; index < 20; index++) await send(Buffer.concat([Buffer.of(1), randomBytes(100)]));
    for (let length = 0; length < sealed.length; length += 7) await send(sealed.subarray(0, length));
    // Sealed with the right key, but not msgpack inside.
    await send(keyring.seal(randomBytes(64)));
    socket.close();

    const total = (counts: Record<string, number>) =>
      Object.values(counts).reduce((sum, count) => sum + count, 0);
    // 200 random packets, 20 behind a valid header, the truncations of the sealed one, the sealed
    // garbage and the replay: every one dropped (UDP on loopback loses none at this rate).
    const expected = 200 + 20 + Math.ceil(sealed.length / 7) + 1 + 1;
    await waitFor(
      async () => total((await stats(target)).dropped) - total(before.dropped) >= expected,
      5000,
      `${expected} drops counted`,
    );
    const after = await stats(target);
    expect(after.dropped.replay - before.dropped.replay).toBe(1);
    expect(after.dropped.decrypt - before.dropped.decrypt).toBeGreaterThanOrEqual(20);
    expect(after.dropped.malformed).toBeGreaterThan(before.dropped.malformed);
    expect(target.process.exitCode).toBeNull();
    expect(await allAlive(agents, 3)).toBe(true);
  }, 30_000);

  it('rotates keys cluster-wide without downtime: install, use, remove', async () => {
    const { key, agents } = await encryptedCluster(28);
    const next = newKey();
    const nextFingerprint = fingerprint(Buffer.from(next, 'base64'));
    const oldFingerprint = fingerprint(Buffer.from(key, 'base64'));
    const api = ['--api', agents[0]!.api];

    expect(runCli(['gossip', 'keys', 'install', next, ...api]).code).toBe(0);
    type KeyList = { keys: Array<{ fingerprint: string; primary: boolean; nodes: number }> };
    const listed = () =>
      Promise.resolve(
        JSON.parse(runCli(['gossip', 'keys', 'list', '--json', '--api', agents[1]!.api]).stdout) as KeyList,
      );
    await waitFor(
      async () => (await listed()).keys.find((entry) => entry.fingerprint === nextFingerprint)?.nodes === 3,
      10_000,
      'new key on all',
    );

    expect(runCli(['gossip', 'keys', 'use', nextFingerprint, ...api]).code).toBe(0);
    await waitFor(
      async () =>
        (await listed()).keys.find((entry) => entry.fingerprint === nextFingerprint)?.primary === true,
      10_000,
      'new key primary',
    );

    const removing = runCli(['gossip', 'keys', 'remove', nextFingerprint, ...api]);
    expect(removing.code).toBe(1);
    expect(removing.stderr).toBe('opsbro: cannot remove the primary key; `use` another key first\n');
    expect(runCli(['gossip', 'keys', 'remove', oldFingerprint, ...api]).code).toBe(0);
    await waitFor(
      async () => (await listed()).keys.map((entry) => entry.fingerprint).join() === nextFingerprint,
      10_000,
      'old key gone',
    );
    // Everyone stayed alive throughout, and the cluster still works with the new key only.
    expect(await allAlive(agents, 3)).toBe(true);
    const newcomer = await startGossipAgent(28, 6, { key: next, seeds: ['127.28.0.2'] });
    await waitFor(() => allAlive([...agents, newcomer], 4), 15_000, 'newcomer with the new key joins');
    const oldTimer = await startGossipAgent(28, 7, { key });
    expect(runCli(['gossip', 'join', '127.28.0.1', '--api', oldTimer.api]).code).toBe(1);
  }, 90_000);
});
