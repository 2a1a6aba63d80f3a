// Consul's KV API on a cluster of 3 real agents, driven by a Consul client library (the `consul`
// npm package, as operators' tools use it): set, get, flags, CAS, keys with a separator, recurse,
// recursive delete, and a blocking query on one node woken by a write on another. Then malformed
// requests (bad cas, a huge key, `..`, `%2F`, invalid UTF-8, a value over the limit) get 4xx and
// leave the store as it was.
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import Consul from 'consul';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupAll, httpGet } from '../helpers/agent-process.js';
import { API_PORT, type GossipAgent, startCluster } from '../helpers/gossip-agents.js';

const BLOCK = 72;

afterAll(cleanupAll);

describe("Consul's KV API", () => {
  let agents: GossipAgent[];
  const token = (agent: GossipAgent) => readFileSync(join(agent.dirs.dataDir, 'local-token'), 'utf8').trim();
  const client = (agent: GossipAgent) =>
    new Consul({ host: agent.address, port: API_PORT, defaults: { token: token(agent) } });

  beforeAll(async () => {
    agents = await startCluster(BLOCK, 3);
  }, 60_000);

  it('works with a Consul client library, blocking queries included', async () => {
    const one = client(agents[0]!);
    const two = client(agents[1]!);
    expect(await one.kv.set('app/db/url', 'postgres://db')).toBe(true);
    expect(await one.kv.set({ key: 'app/db/pool', value: '16', flags: 42 })).toBe(true);
    expect(await one.kv.set('app/name', 'shop')).toBe(true);

    const url = (await two.kv.get('app/db/url')) as { Key: string; Value: string; ModifyIndex: number };
    expect(url).toMatchObject({ Key: 'app/db/url', Value: 'postgres://db', Flags: 0, LockIndex: 0 });
    expect(await two.kv.get('app/db/pool')).toMatchObject({ Value: '16', Flags: 42 });
    expect(await two.kv.get('app/none')).toBeUndefined();

    // CAS: a stale index is refused, the current one accepted. (The agent answers `false`, as
    // Consul does; this library hands a `false` body back as undefined.)
    expect(await two.kv.set({ key: 'app/db/url', value: 'stale', cas: url.ModifyIndex - 1 })).toBeFalsy();
    expect(await one.kv.get('app/db/url')).toMatchObject({ Value: 'postgres://db' });
    expect(await two.kv.set({ key: 'app/db/url', value: 'postgres://db2', cas: url.ModifyIndex })).toBe(true);
    expect(await one.kv.set({ key: 'app/db/url', value: 'create?', cas: 0 })).toBeFalsy();
    expect(await one.kv.get('app/db/url')).toMatchObject({ Value: 'postgres://db2' });

    expect(await one.kv.keys({ key: 'app/', separator: '/' })).toEqual(['app/db/', 'app/name']);
    expect(await one.kv.keys('app/db/')).toEqual(['app/db/pool', 'app/db/url']);
    const tree = (await two.kv.get({ key: 'app/', recurse: true })) as Array<{ Key: string; Value: string }>;
    expect(tree.map((entry) => [entry.Key, entry.Value])).toEqual([
      ['app/db/pool', '16'],
      ['app/db/url', 'postgres://db2'],
      ['app/name', 'shop'],
    ]);

    // A blocking query on node 3, woken by a write through node 2.
    const current = (await client(agents[2]!).kv.get('app/name')) as { ModifyIndex: number };
    // The library sends index and wait (utils.options) though its types leave them out.
    const three = client(agents[2]!).kv;
    const blocking = (three as unknown as { get(options: object): Promise<unknown> }).get({
      key: 'app/name',
      index: current.ModifyIndex,
      wait: '30s',
    });
    // The wait is registered before the write lands (or the write is seen at once: both answer).
    await new Promise((resolve) => setImmediate(resolve));
    expect(await two.kv.set('app/name', 'shop-v2')).toBe(true);
    const woken = (await blocking) as { Value: string; ModifyIndex: number };
    expect(woken.Value).toBe('shop-v2');
    expect(woken.ModifyIndex).toBeGreaterThan(current.ModifyIndex);

    // Recursive delete.
    expect(await one.kv.del({ key: 'app/db/', recurse: true })).toBe(true);
    expect(await one.kv.keys('app/')).toEqual(['app/name']);
  }, 60_000);

  it('refuses malformed requests with 4xx and keeps the store intact', async () => {
    const agent = agents[0]!;
    const auth = { authorization: `Bearer ${token(agent)}` };
    // The path goes out as written (a URL object would fold `..` away before sending).
    const put = (path: string, body: string | Buffer = 'x', headers: Record<string, string> = auth) =>
      new Promise<{ status: number }>((resolve, reject) => {
        const req = request(
          { host: agent.address, port: API_PORT, method: 'PUT', path, headers },
          (response) => {
            response.resume();
            response.on('end', () => resolve({ status: response.statusCode ?? 0 }));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    expect((await put('/kv/keep/me', 'original')).status).toBe(200);
    const before = (await httpGet(`${agent.api}/kv/?keys&prefix=`)).body;

    const refused: Array<[string, Promise<{ status: number }>, number]> = [
      ['a cas that is not a number', put('/kv/keep/me?cas=abc'), 400],
      ['a negative flag', put('/kv/keep/me?flags=-1'), 400],
      ['a bad ttl', put('/kv/keep/x?ttl=soon'), 400],
      ['a key over 1024 bytes', put(`/kv/${'k'.repeat(1100)}`), 400],
      ['a .. segment', put('/kv/keep/../me'), 400],
      ['an encoded .. segment', put('/v1/kv/keep/%2e%2e/me'), 400],
      ['.. hidden behind %2F in Consul keys', put('/v1/kv/keep%2F..%2Fme'), 400],
      ['%2F in a seed key', put('/kv/keep%2Fme'), 400],
      ['invalid UTF-8', put('/kv/keep/%FF%FE'), 400],
      ['a value over 512 KiB', put('/kv/keep/me', Buffer.alloc(512 * 1024 + 1, 0x61)), 413],
      ['a write without a token', put('/kv/keep/me', 'y', {}), 403],
      ['a session lock', put('/v1/kv/keep/me?acquire=abc'), 501],
    ];
    for (const [what, reply, status] of refused) expect((await reply).status, what).toBe(status);

    const kept = await httpGet(`${agent.api}/kv/keep/me?raw`);
    expect(kept.body).toBe('original');
    expect((await httpGet(`${agent.api}/kv/?keys&prefix=`)).body).toBe(before);
  });
});
