// Test helpers for clusters of real agents: each agent on its own loopback address
// (127.<block>.0.<n>), so every agent uses the default ports and nothing collides.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  httpGet,
  type RunningAgent,
  startAgent,
  type TestAgentDirs,
  tempDir,
  WITHOUT_PACKS,
} from './agent-process.js';

export const API_PORT = 6770;

export interface GossipAgentOptions {
  /** Extra agent.yml lines. */
  yaml?: string;
  key?: string;
  seeds?: string[];
  env?: Record<string, string>;
  args?: string[];
  /** log.level (default info). */
  logLevel?: 'debug' | 'info' | 'warn';
}

export interface GossipAgent extends RunningAgent {
  address: string;
  api: string;
  name: string;
}

function agentAddress(block: number, index: number): string {
  return `127.${block}.0.${index}`;
}

function gossipAgentDirs(
  block: number,
  index: number,
  options: GossipAgentOptions = {},
  root = tempDir(),
): TestAgentDirs {
  const address = agentAddress(block, index);
  const configDir = join(root, 'etc');
  const dataDir = join(root, 'data');
  mkdirSync(join(configDir, 'conf.d'), { recursive: true });
  const lines = [
    `node_name: node-${index}`,
    `bind_addr: ${address}`,
    `api:\n  bind: ${address}\n  port: ${API_PORT}`,
    `dns:\n  bind: ${address}\n  port: 0`,
    `statsd:\n  bind: ${address}\n  port: 0`,
    `graphite:\n  bind: ${address}\n  port: 0`,
    `log:\n  level: ${options.logLevel ?? 'info'}`,
    options.key ? `encryption_key: "${options.key}"` : '',
    options.seeds ? `seeds: [${options.seeds.join(', ')}]` : '',
    // Gossip scenarios: the node records must not depend on what this machine runs (detected groups).
    WITHOUT_PACKS.trimEnd(),
    options.yaml ?? '',
  ];
  writeFileSync(join(configDir, 'agent.yml'), lines.filter(Boolean).join('\n') + '\n');
  return { root, configDir, dataDir, port: API_PORT, apiHost: address };
}

export async function startGossipAgent(
  block: number,
  index: number,
  options: GossipAgentOptions = {},
  root?: string,
): Promise<GossipAgent> {
  const dirs = gossipAgentDirs(block, index, options, root);
  const agent = await startAgent(dirs, options.args ?? [], options.env ?? {});
  const address = agentAddress(block, index);
  return { ...agent, address, api: `http://${address}:${API_PORT}`, name: `node-${index}` };
}

export interface MemberState {
  name: string;
  state: string;
  incarnation: number;
  groups: string[];
}

export async function membersOf(agent: { api: string }): Promise<MemberState[]> {
  const reply = await httpGet(`${agent.api}/agent/members`);
  if (reply.status !== 200) throw new Error(`members: HTTP ${reply.status} ${reply.body}`);
  return JSON.parse(reply.body) as MemberState[];
}

/** name -> state, as `agent` sees the cluster. */
export async function viewOf(agent: { api: string }): Promise<Record<string, string>> {
  return Object.fromEntries((await membersOf(agent)).map((member) => [member.name, member.state]));
}

/**
 * `count` agents of `block`, the first the others' seed, once each sees them all alive. `options`
 * apply to every agent (their seeds aside).
 */
export async function startCluster(
  block: number,
  count: number,
  options: GossipAgentOptions = {},
): Promise<GossipAgent[]> {
  const seed = await startGossipAgent(block, 1, options);
  const others = await Promise.all(
    Array.from({ length: count - 1 }, (_, at) =>
      startGossipAgent(block, at + 2, { ...options, seeds: [seed.address] }),
    ),
  );
  const agents = [seed, ...others];
  await waitFor(
    async () =>
      (await Promise.all(agents.map(membersOf))).every(
        (members) => members.filter((member) => member.state === 'alive').length === count,
      ),
    // Formation is not what the callers time: on the 2 CI cores, four agents starting at once
    // now and then took a little over 15 s to all see each other.
    30_000,
    `${count} alive everywhere`,
  );
  return agents;
}

export async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<number> {
  const start = Date.now();
  for (;;) {
    try {
      if (await check()) return Date.now() - start;
    } catch {
      // Not answering yet: keep trying until the deadline.
    }
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** An admin request to `agent`'s API with its local token (what root's CLI does on its own). */
export async function adminRequest(
  agent: GossipAgent,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: string }> {
  const token = readFileSync(join(agent.dirs.dataDir, 'local-token'), 'utf8').trim();
  return httpGet(`${agent.api}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** GET /gossip/keys: this node's keyring as it reports it. */
export interface KeyringReport {
  generation: number;
  primary: string;
  keys: Array<{ fingerprint: string; primary: boolean; installed: boolean; nodes: number }>;
  members: number;
  behind?: { generation: number; primary: string; announced_by: string; missing: string[] };
  conflict?: unknown;
}

export async function keyringOf(agent: { api: string }): Promise<KeyringReport> {
  const reply = await httpGet(`${agent.api}/gossip/keys`);
  if (reply.status !== 200) throw new Error(`keys: HTTP ${reply.status} ${reply.body}`);
  return JSON.parse(reply.body) as KeyringReport;
}
