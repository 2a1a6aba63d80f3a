// A placed check on a real 5-node cluster in network namespaces (a private bridge, 198.18.79.0/24,
// one namespace per agent and one for the checked web server): `run_on: {group: web, replicas: 3}`
// runs on three members, the same three on every node; the server sees requests from those three
// alone; a firewall rule in one runner's namespace (a `prohibit` route to the server) makes that
// runner CRITICAL while the combined state stays OK on every node; a runner SIGKILLed is replaced
// within the gossip bound. Skipped where `ip netns` is not permitted; in CI it fails instead.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CheckPlacement, StatusAnswer } from '../../agent/shared/api-types.js';
import { cleanupAll, httpGet, isAlive, tempDir, WITHOUT_PACKS } from '../helpers/agent-process.js';
import { waitFor } from '../helpers/gossip-agents.js';
import { ip, NetnsLan, netnsUnavailableReason, runInNamespace, spawnInNamespace } from '../helpers/netns.js';
import { describeWhenAvailable } from '../helpers/requirements.js';

const TAG = process.pid % 1000;
const PREFIX = '198.18.79';
const TARGET_HOST = 20;
const TARGET = `${PREFIX}.${TARGET_HOST}`;
const LETTERS = ['a', 'b', 'c', 'd', 'e'];
const PROBE_MS = 200;
const INTERVAL_S = 1;
/**
 * The gossip bound for a runner's death with these settings: its failed probe (every member is
 * probed within N periods, plus the probe timeout), Lifeguard's longest suspicion (6 x 3 x
 * max(1, log10 5) periods), then the replacement's first run (one interval) and its result's way
 * back (a gossip delta: a few periods). 2 s more for the 2 CI cores under five agents.
 */
const GOSSIP_BOUND_MS = 5 * PROBE_MS + PROBE_MS / 2 + 18 * PROBE_MS + INTERVAL_S * 1000 + 5 * PROBE_MS + 2000;

const unavailable = netnsUnavailableReason(`ob${TAG}q`);

interface NsAgent {
  name: string;
  namespace: string;
  address: string;
  dataDir: string;
  process: ChildProcess;
  output(): string;
  exited: Promise<void>;
}

describeWhenAvailable(
  'a placed check on a 5-node cluster in network namespaces',
  unavailable && `${unavailable} (needs root and iproute2: apt-get install iproute2)`,
  () => {
    const lan = new NetnsLan(`obpl${TAG}`, PREFIX);
    const agents = new Map<string, NsAgent>();
    const key = randomBytes(32).toString('base64');
    let server: ChildProcess | undefined;
    /** The source addresses of the requests the web server answered, in order. */
    const requestsFrom: string[] = [];

    const byName = (name: string) => [...agents.values()].find((agent) => agent.name === name)!;

    function startServer(): Promise<void> {
      const namespace = lan.addNamespace(`ob${TAG}qt`, TARGET_HOST);
      const script = `require('node:http').createServer((req, res) => {
        process.stdout.write('from ' + req.socket.remoteAddress + '\\n'); res.end('ok');
      }).listen(8080, '0.0.0.0', () => process.stdout.write('listening\\n'));`;
      server = spawn('ip', ['netns', 'exec', namespace.name, process.execPath, '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let buffered = '';
      return new Promise((resolve) =>
        server!.stdout!.on('data', (chunk: Buffer) => {
          buffered += chunk.toString();
          const lines = buffered.split('\n');
          buffered = lines.pop()!;
          for (const line of lines) {
            if (line === 'listening') resolve();
            else if (line.startsWith('from ')) requestsFrom.push(line.slice(5).replace(/^::ffff:/, ''));
          }
        }),
      );
    }

    function startNsAgent(letter: string, host: number): NsAgent {
      const namespace = lan.addNamespace(`ob${TAG}q${letter}`, host);
      const root = tempDir('opsbro-placed-');
      const configDir = join(root, 'etc');
      const dataDir = join(root, 'data');
      mkdirSync(join(configDir, 'conf.d'), { recursive: true });
      writeFileSync(
        join(configDir, 'agent.yml'),
        [
          `node_name: web-${letter}`,
          'bind_addr: 0.0.0.0',
          `advertise_addr: ${namespace.address}`,
          `encryption_key: "${key}"`,
          'groups: [web]',
          letter === 'a' ? '' : `seeds: ["${PREFIX}.11"]`,
          'api:\n  bind: 127.0.0.1\n  port: 6770',
          `gossip:\n  port: 6768\n  probe_interval_ms: ${PROBE_MS}\n  probe_timeout_ms: ${PROBE_MS / 2}\n  push_pull_interval_s: 5`,
          'rpc:\n  port: 6767',
          'log:\n  level: info',
          WITHOUT_PACKS,
        ].join('\n'),
      );
      // The same definition on every node, as configuration management would deploy it.
      writeFileSync(
        join(configDir, 'conf.d', 'site.yml'),
        [
          'check:',
          '  name: site',
          '  type: http',
          `  url: "http://${TARGET}:8080/"`,
          `  interval: ${INTERVAL_S}s`,
          '  timeout: 2s',
          '  max_attempts: 1',
          '  run_on: {group: web, replicas: 3}',
        ].join('\n') + '\n',
      );
      const child = spawnInNamespace(namespace.name, [
        'agent',
        'start',
        '--config-dir',
        configDir,
        '--data-dir',
        dataDir,
      ]);
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const started: NsAgent = {
        name: `web-${letter}`,
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
    async function api<T>(target: NsAgent, path: string): Promise<T> {
      const reply = await httpGet(`unix:${join(target.dataDir, 'api.sock')}:${path}`);
      if (reply.status !== 200) throw new Error(`${target.name} ${path}: HTTP ${reply.status} ${reply.body}`);
      return JSON.parse(reply.body) as T;
    }

    const placedOn = async (target: NsAgent): Promise<CheckPlacement> =>
      (await api<CheckPlacement[]>(target, '/monitoring/placed')).find((each) => each.name === 'site')!;

    const living = () =>
      [...agents.values()].filter((agent) => agent.process.exitCode === null && !killed.has(agent.name));
    const killed = new Set<string>();

    beforeAll(async () => {
      lan.createBridge();
      await startServer();
      LETTERS.forEach((letter, index) => startNsAgent(letter, 11 + index));
      await waitFor(
        async () => {
          for (const agent of agents.values())
            if (agent.process.exitCode !== null) throw new Error(`${agent.name} exited:\n${agent.output()}`);
          const views = await Promise.all(
            [...agents.values()].map((agent) => api<Array<{ state: string }>>(agent, '/agent/members')),
          );
          return views.every((members) => members.filter((member) => member.state === 'alive').length === 5);
        },
        60_000,
        'five agents alive everywhere',
      );
    }, 90_000);

    afterAll(async () => {
      const running = [...agents.values()];
      for (const { process: child } of running) child.kill('SIGTERM');
      server?.kill('SIGKILL');
      await Promise.race([
        Promise.all(running.map((each) => each.exited)),
        new Promise((resolve) => setTimeout(resolve, 4000)),
      ]);
      for (const { process: child } of running)
        if (child.pid !== undefined && isAlive(child.pid)) child.kill('SIGKILL');
      await Promise.race([
        Promise.all(running.map((each) => each.exited)),
        new Promise((resolve) => setTimeout(resolve, 2000)),
      ]);
      const errors = lan.destroy();
      cleanupAll();
      if (errors.length) console.log(`network namespace cleanup: ${errors.join('; ')}`);
    }, 30_000);

    let runners: string[] = [];

    it('three members run it, the same three seen from every node, and only they ask the server', async () => {
      let views: CheckPlacement[] = [];
      await waitFor(
        async () => {
          views = await Promise.all([...agents.values()].map(placedOn));
          return views.every(
            (view) => view.state === 'ok' && view.runners.every((runner) => runner.state === 'ok'),
          );
        },
        30_000,
        'the placed check OK on every node',
      );
      runners = views[0]!.runners.map((runner) => runner.node);
      expect(runners).toHaveLength(3);
      for (const view of views) {
        expect(view).toMatchObject({ group: 'web', replicas: 3, quorum: 2, state: 'ok' });
        expect(view.runners.map((runner) => runner.node)).toEqual(runners);
      }
      for (const agent of agents.values())
        expect((await placedOn(agent)).runs_here, agent.name).toBe(runners.includes(agent.name));
      // While the cluster formed, nodes that did not yet see all five ran it too. Once every node
      // agrees (and a run each has gone by, for one under way then), only the three ask.
      const addresses = runners.map((name) => byName(name).address).sort();
      const everyRunnerAskedSince = async (mark: number) =>
        waitFor(
          () => Promise.resolve(addresses.every((address) => requestsFrom.slice(mark).includes(address))),
          10_000,
          'a request from every runner',
        );
      await everyRunnerAskedSince(requestsFrom.length);
      const mark = requestsFrom.length;
      await everyRunnerAskedSince(mark);
      expect([...new Set(requestsFrom.slice(mark))].sort()).toEqual(addresses);
    }, 60_000);

    it('a firewall rule on one runner: that runner CRITICAL, the combined state OK on every node', async () => {
      const blocked = byName(runners[1]!);
      const rule = ip(['netns', 'exec', blocked.namespace, 'ip', 'route', 'add', 'prohibit', `${TARGET}/32`]);
      expect(rule.ok, rule.output).toBe(true);
      for (const agent of agents.values()) {
        let view: CheckPlacement | undefined;
        await waitFor(
          async () => {
            view = await placedOn(agent);
            return view.runners.find((runner) => runner.node === blocked.name)?.state === 'critical';
          },
          20_000,
          `${agent.name} sees ${blocked.name} CRITICAL`,
        );
        // In the same answer that shows the blocked runner CRITICAL: the check is OK.
        expect(view!.state, agent.name).toBe('ok');
        expect(view!.runners.filter((runner) => runner.state === 'ok')).toHaveLength(2);
      }
      // The CLI says the same, on the blocked runner itself.
      const cli = await runInNamespace(blocked.namespace, [
        'checks',
        'placed',
        '--api',
        'http://127.0.0.1:6770',
      ]);
      console.log(cli.stdout);
      expect(cli.code, cli.stderr).toBe(0);
      const lines = cli.stdout.split('\n');
      expect(lines.find((line) => line.startsWith('site '))).toMatch(
        /web x3, quorum 2\s+OK\s+OK for 2 of 3 runners/,
      );
      expect(lines.find((line) => line.trim().startsWith(blocked.name))).toMatch(/CRITICAL/);
      // The blocked runner's own worst-of counts the combined state, not its own failure.
      const status = await api<StatusAnswer>(blocked, '/status');
      expect(status.status).toBe('OK');
    }, 120_000);

    it('a runner SIGKILLed: a replacement runs it within the gossip bound; still OK', async () => {
      const victim = byName(runners[0]!);
      const watcher = byName(runners[1]!);
      killed.add(victim.name);
      const killedAt = Date.now();
      victim.process.kill('SIGKILL');
      let view: CheckPlacement | undefined;
      await waitFor(
        async () => {
          view = await placedOn(watcher);
          const replacement = view.runners.find((runner) => !runners.includes(runner.node));
          return !view.runners.some((runner) => runner.node === victim.name) && replacement?.state === 'ok';
        },
        60_000,
        'a replacement runner with a result',
      );
      const tookMs = Date.now() - killedAt;
      console.log(`placed check moved in ${tookMs} ms (bound ${GOSSIP_BOUND_MS} ms)`);
      expect(tookMs).toBeLessThan(GOSSIP_BOUND_MS);
      expect(view!.runners).toHaveLength(3);
      expect(view!.state).toBe('ok');
      for (const agent of living()) expect((await placedOn(agent)).state, agent.name).toBe('ok');
      const replacement = view!.runners.find((runner) => !runners.includes(runner.node))!;
      expect(requestsFrom).toContain(byName(replacement.node).address);
    }, 120_000);
  },
);
