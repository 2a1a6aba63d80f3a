// The KV store under failure, on 5 real agents: while one random node at a time is SIGKILLed and
// restarted every 4 seconds, writers put keys and 10 clients CAS-increment one counter 200 times
// each (retrying on conflict), each client through its own node and to another when that one is
// down. The checkers:
// - every acknowledged write is readable afterwards with its latest acknowledged value (or a later
//   one that was sent and answered with an error: its outcome was unknown);
// - the counter's value lists the id of every increment that landed: every acknowledged increment
//   is there, none twice, and no increment answered `false` (a refused CAS) is there; the only
//   others are increments whose answer was lost (the node died under the request), and the
//   client resolves those by reading, as a real client would.
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupAll } from '../helpers/agent-process.js';
import {
  API_PORT,
  type GossipAgent,
  membersOf,
  startGossipAgent,
  waitFor,
} from '../helpers/gossip-agents.js';

const BLOCK = 73;
const NODES = 5;
const CAS_CLIENTS = Number(process.env.KV_CHAOS_CLIENTS ?? 10);
const INCREMENTS = Number(process.env.KV_CHAOS_INCREMENTS ?? 200);
const WRITERS = 5;
const KV_YAML = 'kv:\n  anti_entropy_s: 2';

afterAll(cleanupAll);

interface Reply {
  status: number;
  body: string;
}

/** One HTTP request; rejects when the node cannot be reached or dies under it. */
function call(address: string, method: string, path: string, token: string, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: address,
        port: API_PORT,
        method,
        path,
        timeout: 30_000,
        headers: { authorization: `Bearer ${token}` },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
        response.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

describe('KV under SIGKILL', () => {
  it('loses no acknowledged write and applies every acknowledged CAS exactly once', async () => {
    const seed = await startGossipAgent(BLOCK, 1, { yaml: KV_YAML });
    const agents: GossipAgent[] = [
      seed,
      ...(await Promise.all(
        Array.from({ length: NODES - 1 }, (_, at) =>
          startGossipAgent(BLOCK, at + 2, { yaml: KV_YAML, seeds: [seed.address] }),
        ),
      )),
    ];
    const allAlive = async () =>
      (await Promise.all(agents.map(membersOf))).every(
        (members) => members.filter((member) => member.state === 'alive').length === NODES,
      );
    await waitFor(allAlive, 20_000, 'five agents alive');
    // An agent writes a new local token at each start: read when used.
    const tokenOf = (node: number): string => {
      try {
        return readFileSync(join(agents[node]!.dirs.dataDir, 'local-token'), 'utf8').trim();
      } catch {
        return '';
      }
    };

    /** A request through node `at`, or the next ones while it is down. */
    const through = async (at: number, method: string, path: string, body?: string): Promise<Reply> => {
      let last: string | undefined;
      for (let attempt = 0; ; attempt++) {
        const node = (at + attempt) % NODES;
        try {
          const reply = await call(agents[node]!.address, method, path, tokenOf(node), body);
          if (reply.status !== 503) return reply;
          last = reply.body;
        } catch (error) {
          // Down, or died under the request: the next node.
          last = String(error);
        }
        if (attempt > 200) throw new Error(`${method} ${path}: no node answered (last: ${last})`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };

    let chaos = true;
    const kills: string[] = [];
    const killer = (async () => {
      while (chaos) {
        await new Promise((resolve) => setTimeout(resolve, 4000));
        if (!chaos) break;
        const at = Math.floor(Math.random() * NODES);
        const victim = agents[at]!;
        kills.push(victim.name);
        victim.process.kill('SIGKILL');
        await victim.exited;
        await new Promise((resolve) => setTimeout(resolve, 500));
        agents[at] = await startGossipAgent(
          BLOCK,
          at + 1,
          { yaml: KV_YAML, seeds: [agents[(at + 1) % NODES]!.address] },
          victim.dirs.root,
        );
      }
    })();

    // Writers: each its own keys, each write's sequence number as the value.
    const acked = new Map<string, number>();
    const attempted = new Map<string, number>();
    let writing = true;
    const writers = Array.from({ length: WRITERS }, async (_, writer) => {
      for (let seq = 1; writing; seq++) {
        const key = `writes/${writer}/${seq % 10}`;
        attempted.set(key, seq);
        try {
          const reply = await call(
            agents[writer]!.address,
            'PUT',
            `/kv/${key}`,
            tokenOf(writer),
            String(seq),
          );
          if (reply.status === 200) acked.set(key, seq);
          // ~20 writes a second each: load beside the counter, not a flood of the 2 cores.
          await new Promise((resolve) => setTimeout(resolve, 50));
        } catch {
          // Unknown outcome: the value may be this one, or the last acknowledged.
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    });

    // CAS clients: the counter's value is the list of the ids of the increments it holds.
    const key = 'counter';
    const acknowledged = new Set<string>();
    const refused = new Set<string>();
    const unknown = new Set<string>();
    const read = async (client: number): Promise<{ ids: string[]; index: number }> => {
      const reply = await through(client % NODES, 'GET', `/kv/${key}?consistent`);
      if (reply.status === 404) return { ids: [], index: 0 };
      expect(reply.status).toBe(200);
      const record = JSON.parse(reply.body) as { value: string; modify_index: number };
      return {
        ids: JSON.parse(Buffer.from(record.value, 'base64').toString()) as string[],
        index: record.modify_index,
      };
    };
    const clients = Array.from({ length: CAS_CLIENTS }, async (_, client) => {
      for (let attempt = 0; ; attempt++) {
        const current = await read(client);
        // Done once the counter holds this client's INCREMENTS increments (an increment whose
        // answer was lost counts once the counter shows it).
        if (current.ids.filter((id) => id.startsWith(`${client}.`)).length >= INCREMENTS) return;
        const id = `${client}.${attempt}`;
        let reply: Reply | undefined;
        try {
          reply = await call(
            agents[client % NODES]!.address,
            'PUT',
            `/kv/${key}?cas=${current.index}`,
            tokenOf(client % NODES),
            JSON.stringify([...current.ids, id]),
          );
        } catch {
          reply = undefined;
        }
        if (reply?.status === 200) {
          acknowledged.add(id);
        } else if (reply?.status === 409) refused.add(id);
        // No answer (the node died under it) or 503: the outcome is unknown.
        else unknown.add(id);
      }
    });
    await Promise.all(clients);
    writing = false;
    await Promise.all(writers);
    chaos = false;
    await killer;
    await waitFor(allAlive, 30_000, 'all five alive again');

    const final = await read(0);
    expect(new Set(final.ids).size, 'no increment applied twice').toBe(final.ids.length);
    for (const id of acknowledged) expect(final.ids, `acknowledged increment ${id}`).toContain(id);
    for (const id of final.ids)
      expect(acknowledged.has(id) || unknown.has(id), `increment ${id} was acknowledged or unknown`).toBe(
        true,
      );
    for (const id of refused) expect(final.ids).not.toContain(id);
    const landedUnknown = final.ids.filter((id) => unknown.has(id)).length;
    expect(final.ids.length).toBe(acknowledged.size + landedUnknown);
    expect(final.ids.length).toBeGreaterThanOrEqual(CAS_CLIENTS * INCREMENTS);

    for (const [written, seq] of acked) {
      const reply = await through(0, 'GET', `/kv/${written}?consistent`);
      const value = Number(
        Buffer.from((JSON.parse(reply.body) as { value: string }).value, 'base64').toString(),
      );
      expect(value, written).toBeGreaterThanOrEqual(seq);
      expect(value, written).toBeLessThanOrEqual(attempted.get(written)!);
    }
    console.log(
      `kv chaos: ${kills.length} kills (${kills.join(' ')}), ${acknowledged.size} increments acknowledged, ` +
        `${unknown.size} unknown (${landedUnknown} landed), ${refused.size} refused, ${acked.size} keys written`,
    );
    expect(kills.length).toBeGreaterThan(2);
  }, 600_000);
});
