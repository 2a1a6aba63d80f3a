// LAN detection across real network namespaces: five namespaces on a private bridge (no address on
// the bridge, no real interface attached, 198.18.77.0/24), one agent in each. `gossip detect` finds
// the others by broadcast; `--auto-join` forms one cluster; `agent start --auto-detect` joins it on
// its own; an agent with another key finds nobody, joins nobody, and nobody ever lists it.
// Where `ip netns` is not permitted (not root, no netns support): skipped, the reason printed; in
// CI (root, iproute2 installed by .ci/run) it fails instead.
import type { DetectResult } from '../../agent/shared/api-types.js';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cleanupAll, httpGet, isAlive, tempDir, WITHOUT_PACKS } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/gossip-agents.js';
import { NetnsLan, netnsUnavailableReason, runInNamespace, spawnInNamespace } from '../helpers/netns.js';

import { describeWhenAvailable } from '../helpers/requirements.js';
const TAG = process.pid % 1000;
const PREFIX = '198.18.77';
const API = 'http://127.0.0.1:6770';

const unavailable = netnsUnavailableReason(`ob${TAG}p`);

interface NsAgent {
  name: string;
  namespace: string;
  address: string;
  dataDir: string;
  process: ChildProcess;
  output(): string;
  exited: Promise<void>;
}

interface Member {
  name: string;
  state: string;
}

describeWhenAvailable(
  'LAN detection in network namespaces',
  unavailable && `${unavailable} (needs root and iproute2: apt-get install iproute2)`,
  () => {
    const lan = new NetnsLan(`obbr${TAG}`, PREFIX);
    const agents = new Map<string, NsAgent>();
    const key = randomBytes(32).toString('base64');
    const otherKey = randomBytes(32).toString('base64');
    /** Every member list fetched from a key-K agent: the stranger must never show up in one. */
    const sightingsOfStranger: string[] = [];

    const agent = (letter: string): NsAgent => agents.get(letter)!;

    function startNsAgent(letter: string, host: number, agentKey: string, args: string[] = []): NsAgent {
      const namespace = lan.addNamespace(`ob${TAG}${letter}`, host);
      const root = tempDir('opsbro-netns-');
      const configDir = join(root, 'etc');
      const dataDir = join(root, 'data');
      mkdirSync(join(configDir, 'conf.d'), { recursive: true });
      writeFileSync(
        join(configDir, 'agent.yml'),
        [
          `node_name: lan-${letter}`,
          // 0.0.0.0 so the agent receives broadcasts; others dial the veth address.
          'bind_addr: 0.0.0.0',
          `advertise_addr: ${namespace.address}`,
          `encryption_key: "${agentKey}"`,
          'api:\n  bind: 127.0.0.1\n  port: 6770',
          'gossip:\n  port: 6768',
          'rpc:\n  port: 6767',
          'log:\n  level: info',
          // Detected groups would depend on what this machine runs; the records are compared whole.
          WITHOUT_PACKS,
        ].join('\n'),
      );
      const child = spawnInNamespace(namespace.name, [
        'agent',
        'start',
        '--config-dir',
        configDir,
        '--data-dir',
        dataDir,
        ...args,
      ]);
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const started: NsAgent = {
        name: `lan-${letter}`,
        namespace: namespace.name,
        address: namespace.address,
        dataDir,
        process: child,
        output: () => output,
        exited,
      };
      agents.set(letter, started);
      return started;
    }

    /** The API through the data dir's unix socket: reachable from the root namespace. */
    async function api(target: NsAgent, path: string): Promise<string> {
      const reply = await httpGet(`unix:${join(target.dataDir, 'api.sock')}:${path}`);
      if (reply.status !== 200) throw new Error(`${target.name} ${path}: HTTP ${reply.status} ${reply.body}`);
      return reply.body;
    }

    async function membersOf(target: NsAgent): Promise<Member[]> {
      const members = JSON.parse(await api(target, '/agent/members')) as Member[];
      if (target.name !== 'lan-d' && members.some((member) => member.name === 'lan-d'))
        sightingsOfStranger.push(`${target.name}: ${JSON.stringify(members)}`);
      return members;
    }

    async function waitReady(target: NsAgent): Promise<void> {
      await waitFor(
        async () => {
          if (target.process.exitCode !== null) throw new Error('exited');
          // Started means gossip too, not just the API (it is up first).
          return (JSON.parse(await api(target, '/agent/state')) as { state?: string }).state === 'ok';
        },
        20_000,
        `${target.name} API`,
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}\n${target.output()}`);
      });
    }

    /** `opsbro gossip detect --json` run inside the agent's namespace against its own API. */
    async function detect(target: NsAgent, autoJoin: boolean): Promise<DetectResult> {
      const result = await runInNamespace(target.namespace, [
        'gossip',
        'detect',
        '--json',
        '--timeout',
        '2',
        ...(autoJoin ? ['--auto-join'] : []),
        '--api',
        API,
      ]);
      expect(result.stderr, `${target.name} detect stderr`).toBe('');
      expect(result.code, `${target.name} detect exit code`).toBe(0);
      return JSON.parse(result.stdout) as DetectResult;
    }

    /** True when each of `letters` sees exactly those agents, all alive. */
    async function clusterOf(letters: string[]): Promise<boolean> {
      const expected = letters.map((letter) => `lan-${letter}`).sort();
      const views = await Promise.all(letters.map((letter) => membersOf(agent(letter))));
      return views.every(
        (members) =>
          JSON.stringify(members.map((member) => member.name).sort()) === JSON.stringify(expected) &&
          members.every((member) => member.state === 'alive'),
      );
    }

    beforeAll(async () => {
      lan.createBridge();
      startNsAgent('a', 11, key);
      startNsAgent('b', 12, key);
      startNsAgent('c', 13, key);
      startNsAgent('d', 14, otherKey);
      await Promise.all([...agents.values()].map(waitReady));
    }, 60_000);

    afterAll(async () => {
      const running = [...agents.values()];
      for (const { process: child } of running) child.kill('SIGTERM');
      const grace = new Promise((resolve) => setTimeout(resolve, 4000));
      await Promise.race([Promise.all(running.map((each) => each.exited)), grace]);
      for (const { process: child } of running) {
        if (child.pid !== undefined && isAlive(child.pid)) child.kill('SIGKILL');
      }
      await Promise.race([
        Promise.all(running.map((each) => each.exited)),
        new Promise((resolve) => setTimeout(resolve, 2000)),
      ]);
      const errors = lan.destroy();
      cleanupAll();
      if (errors.length) console.log(`network namespace cleanup: ${errors.join('; ')}`);
    }, 30_000);

    it('`gossip detect` finds the agents holding the same key by broadcast, not itself, not the stranger', async () => {
      const found = await detect(agent('a'), false);
      expect(found.joined).toBeNull();
      expect(found.nodes.map((node) => node.name).sort()).toEqual(['lan-b', 'lan-c']);
      for (const node of found.nodes) {
        const letter = node.name.slice(-1);
        expect(node).toMatchObject({
          address: agent(letter).address,
          port: 6768,
          datacenter: 'dc1',
          groups: [],
        });
        expect(node.id).toMatch(/^[0-9a-f-]{36}$/);
      }
      // Detection alone joins nobody.
      expect((await membersOf(agent('a'))).map((member) => member.name)).toEqual(['lan-a']);
    }, 30_000);

    it('`gossip detect --auto-join` on a, b and c at once forms one three-node cluster', async () => {
      const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((letter) => detect(agent(letter), true)));
      for (const [letter, result] of [
        ['a', a!],
        ['b', b!],
        ['c', c!],
      ] as const) {
        const others = ['a', 'b', 'c'].filter((other) => other !== letter).map((other) => `lan-${other}`);
        expect(result.nodes.map((node) => node.name).sort(), `${letter} detected`).toEqual(others);
        // Deterministic choice: the answer with the lowest id.
        const lowest = [...result.nodes].sort((x, y) => x.id.localeCompare(y.id))[0]!;
        expect(result.joined, `${letter} joined`).toEqual({
          name: lowest.name,
          id: lowest.id,
          address: `${lowest.address}:6768`,
        });
      }
      await waitFor(() => clusterOf(['a', 'b', 'c']), 15_000, 'a, b and c see each other alive');

      // And the CLI inside a namespace says the same.
      const members = await runInNamespace(agent('b').namespace, [
        'gossip',
        'members',
        '--json',
        '--api',
        API,
      ]);
      expect(members.code).toBe(0);
      expect((JSON.parse(members.stdout) as Member[]).map((member) => [member.name, member.state])).toEqual([
        ['lan-a', 'alive'],
        ['lan-b', 'alive'],
        ['lan-c', 'alive'],
      ]);
    }, 45_000);

    it('`agent start --auto-detect` finds the cluster and joins it on its own', async () => {
      const late = startNsAgent('e', 15, key, ['--auto-detect']);
      await waitReady(late);
      await waitFor(() => clusterOf(['a', 'b', 'c', 'e']), 20_000, 'a, b, c and e see each other alive');
      // The join's answer is logged after the members have met: the line may follow the view.
      await waitFor(
        () => Promise.resolve(/auto-detect joined a cluster/.test(late.output())),
        5_000,
        'the agent logs that auto-detect joined',
      );
    }, 45_000);

    it('an agent with another key detects nobody, joins nobody, and nobody lists it', async () => {
      const stranger = agent('d');
      const before = JSON.parse(await api(agent('a'), '/gossip/stats')) as { dropped: { decrypt: number } };
      const found = await detect(stranger, false);
      expect(found).toEqual({ nodes: [], joined: null });
      const autoJoin = await detect(stranger, true);
      expect(autoJoin).toEqual({ nodes: [], joined: null });
      // Its probes did reach the others, which could not open them.
      const after = JSON.parse(await api(agent('a'), '/gossip/stats')) as { dropped: { decrypt: number } };
      expect(after.dropped.decrypt).toBeGreaterThan(before.dropped.decrypt);

      expect(await membersOf(stranger)).toEqual([expect.objectContaining({ name: 'lan-d', state: 'alive' })]);
      for (const letter of ['a', 'b', 'c', 'e']) {
        expect((await membersOf(agent(letter))).map((member) => member.name)).toEqual([
          'lan-a',
          'lan-b',
          'lan-c',
          'lan-e',
        ]);
      }
      expect(sightingsOfStranger).toEqual([]);
      expect(stranger.process.exitCode).toBeNull();
    }, 30_000);
  },
);
