// opsbro: one `opsbro agent start` process per node, everything on its own 127.0.2.X (gossip UDP 6768,
// cluster RPC TCP 6767, HTTP API 6770), config and data in a temp dir per agent. Views are read with
// GET /agent/members over keep-alive HTTP (much cheaper than spawning the CLI per poll); joins are
// POST /agent/join through the CLI's own client (AgentClient), what `opsbro gossip join` sends.
// Serf's joins go through its RPC too; a CLI process per join (a Node start each) would load the
// machine while convergence is timed. With BENCH_CHECKS, each agent also runs a check load
// (checks-load.ts) in its conf.d.
import { Agent as HttpAgent, get } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { disabledPacksYaml, shippedPackNames } from '../../agent/config/index.js';
import { messageOf } from '../../agent/shared/errors.js';
import { AgentClient } from '../../cli/client.js';
import { checkDefinitionsYaml, checksLoadFromEnv } from './checks-load.js';
import { AGENT_ENV, mapLimit, retryWhileRunning, run, track } from './procs.js';
import { address, type Agent, type Cluster, type GossipSystem, type Member, type State } from './system.js';

// Compiled to dist/bench/gossip/opsbro.js; the launcher is <repo>/bin/opsbro.js (BENCH_OPSBRO_BIN: another
// opsbro.js, e.g. an installed one).
const OPSBRO =
  process.env.BENCH_OPSBRO_BIN || fileURLToPath(new URL('../../../bin/opsbro.js', import.meta.url));
const GOSSIP_PORT = 6768;
const RPC_PORT = 6767;
const API_PORT = 6770;
const REQUEST_TIMEOUT_MS = 10_000;
const READY_TIMEOUT_MS = 60_000;

/** Extra YAML appended to every agent.yml, e.g. to turn off listeners that bind fixed 127.0.0.1 ports. */
const EXTRA_YAML = process.env.BENCH_OPSBRO_YAML ?? '';

const http = new HttpAgent({ keepAlive: true, maxSockets: 1 });

function getJson(url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: http, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200)
          return reject(new Error(`GET ${url}: ${res.statusCode} ${text.slice(0, 200)}`));
        try {
          resolve(JSON.parse(text));
        } catch (err) {
          reject(new Error(`GET ${url}: bad JSON: ${String(err)}`));
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on('error', reject);
  });
}

function toState(state: string): State {
  if (state === 'alive' || state === 'suspect' || state === 'left') return state;
  if (state === 'dead') return 'failed';
  return 'other';
}

function membersUrl(agent: Agent): string {
  return `http://${agent.address}:${API_PORT}/agent/members`;
}

async function waitReady(agent: Agent): Promise<void> {
  await retryWhileRunning(agent.proc, 'API not ready', READY_TIMEOUT_MS, 200, () =>
    getJson(membersUrl(agent)),
  );
}

export const opsbro: GossipSystem = {
  name: 'opsbro',
  block: '127.0.2',
  udpPort: GOSSIP_PORT,
  tcpPort: RPC_PORT,

  async unavailable() {
    const { code, output } = await run('opsbro gossip --help', process.execPath, [
      OPSBRO,
      'gossip',
      '--help',
    ]);
    if (code !== 0) return `\`opsbro gossip --help\` exited ${code}: ${output.trim().split('\n')[0] ?? ''}`;
    // commander prints the top-level help (exit 0) for a command it does not know.
    if (!/\bjoin\b/.test(output))
      return '`opsbro gossip --help` lists no `join`: the gossip command is not built yet';
    if (checksLoadFromEnv()) {
      const checks = await run('opsbro checks --help', process.execPath, [OPSBRO, 'checks', '--help']);
      if (checks.code !== 0 || !/\blist\b/.test(checks.output))
        return 'BENCH_CHECKS is set but `opsbro checks --help` lists no `list`: the checks engine is not built in this opsbro';
    }
    return null;
  },

  async version() {
    const { output } = await run('opsbro --version', process.execPath, [OPSBRO, '--version']);
    return output.trim();
  },

  async start(n, dir, batch) {
    const agents: Agent[] = [];
    // Gossip against gossip: Serf collects nothing, so the agents run no pack (no collectors).
    const noPacks = disabledPacksYaml(shippedPackNames());
    const checks = checksLoadFromEnv();
    for (let first = 1; first <= n; first += batch) {
      const started: Agent[] = [];
      for (let i = first; i < Math.min(first + batch, n + 1); i++) {
        const name = `opsbro-${i}`;
        const addr = address(this.block, i);
        const configDir = join(dir, name, 'config');
        const dataDir = join(dir, name, 'data');
        mkdirSync(configDir, { recursive: true });
        mkdirSync(dataDir, { recursive: true });
        const yml = [
          `node_name: ${name}`,
          `bind_addr: ${addr}`,
          `gossip: {port: ${GOSSIP_PORT}}`,
          `rpc: {port: ${RPC_PORT}}`,
          `api: {bind: ${addr}, port: ${API_PORT}}`,
          `dns: {bind: ${addr}, port: 0}`,
          `statsd: {bind: ${addr}, port: 0}`,
          `graphite: {bind: ${addr}, port: 0}`,
          'log: {level: warn}',
          noPacks,
          EXTRA_YAML,
        ];
        writeFileSync(join(configDir, 'agent.yml'), yml.join('\n') + '\n');
        if (checks) {
          mkdirSync(join(configDir, 'conf.d'), { recursive: true });
          writeFileSync(join(configDir, 'conf.d', 'bench-checks.yml'), checkDefinitionsYaml(checks, i, n));
        }
        const args = [OPSBRO, 'agent', 'start', '--config-dir', configDir, '--data-dir', dataDir];
        started.push({
          index: i,
          name,
          address: addr,
          proc: track(name, process.execPath, args, { env: AGENT_ENV }),
        });
      }
      agents.push(...started);
      await Promise.all(started.map(waitReady));
    }
    const cluster: Cluster = {
      agents,
      async members(agent) {
        let body: unknown;
        try {
          body = await getJson(membersUrl(agent));
        } catch (err) {
          // A kept-alive socket the agent closed while idle (its keep-alive timeout): once more, anew.
          const code = (err as NodeJS.ErrnoException).code;
          if (code !== 'ECONNRESET' && code !== 'EPIPE') throw err;
          body = await getJson(membersUrl(agent));
        }
        const list = (Array.isArray(body) ? body : (body as { members?: unknown }).members) as
          { name: string; state: string; incarnation?: number }[] | undefined;
        if (!Array.isArray(list)) throw new Error(`${agent.name}: /agent/members is not a list`);
        return list.map((m): Member => ({
          name: m.name,
          state: toState(m.state),
          incarnation: m.incarnation,
        }));
      },
      async notAlive(agent) {
        // The same server-side filter serf gets: only dead and left members, a few bytes per poll.
        const body = await getJson(`${membersUrl(agent)}?state=dead,left`);
        if (!Array.isArray(body)) throw new Error(`${agent.name}: /agent/members is not a list`);
        return (body as { name: string; state: string }[]).map((m): Member => ({
          name: m.name,
          state: toState(m.state),
        }));
      },
      async join(concurrency) {
        const seed = `${agents[0]!.address}:${GOSSIP_PORT}`;
        return mapLimit(agents.slice(1), concurrency, async (agent) => {
          const t = performance.now();
          const client = new AgentClient({ api: `http://${agent.address}:${API_PORT}` });
          await client.post('/agent/join', { addresses: [seed] }).catch((err: unknown) => {
            throw new Error(`${agent.name}: join ${seed}: ${messageOf(err)}`);
          });
          return performance.now() - t;
        });
      },
      close() {
        http.destroy();
      },
    };
    return cluster;
  },
};
