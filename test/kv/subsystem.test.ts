// The KV subsystem on one node (a real store, the routes called as the API calls them): a write
// publishes `kv-change` on the event bus (key, modify index, deleted), a delete too; a node told to
// join a cluster (seeds) answers 503 until it knows another member; a node restarted on its data
// dir places keys on the holders it knew, before gossip tells it about them.
import { afterAll, describe, expect, it } from 'vitest';
import { AgentSettingsSchema, type AgentSettings } from '../../agent/config/index.js';
import { SchemaValidator } from '../../agent/config/validate.js';
import { EventBus, type AgentEvents } from '../../agent/events/index.js';
import { KvSubsystem, type KvCluster } from '../../agent/kv/index.js';
import { Logger } from '../../agent/log/index.js';
import type { HttpReply } from '../../agent/shared/http.js';
import { HttpError, type RequestContext, type Route } from '../../agent/shared/http.js';
import { openStore, type Store } from '../../agent/store/index.js';
import { cleanupAll, tempDir } from '../helpers/agent-process.js';

const stores: Store[] = [];
afterAll(async () => {
  await Promise.all(stores.map((store) => store.close().catch(() => undefined)));
  cleanupAll();
});

const settingsValidator = new SchemaValidator(AgentSettingsSchema);

function call(routes: Route[], method: string, path: string, key: string, body?: string): Promise<unknown> {
  const route = routes.find((each) => each.method === method && each.path === path)!;
  const context: RequestContext = {
    params: { key },
    query: new URLSearchParams(),
    body: undefined,
    rawBody: body === undefined ? undefined : Buffer.from(body),
    rawPath: `${path.replace(':key*', key)}`,
    principal: { name: 'unix-socket', role: 'admin' },
    connection: { local: true, reachedAt: 'unix:' },
    signal: new AbortController().signal,
  };
  return Promise.resolve(route.handler(context));
}

async function node(options: { seeds?: string[]; dataDir?: string; members?: KvCluster['members'] }) {
  const dataDir = options.dataDir ?? tempDir('opsbro-kv-subsystem-');
  const store = await openStore(dataDir);
  stores.push(store);
  const events = new EventBus();
  const changes: Array<AgentEvents['kv-change']> = [];
  events.on('kv-change', (change) => void changes.push(change));
  const kv = new KvSubsystem({
    settings: settingsValidator.withDefaults<AgentSettings>({ seeds: options.seeds ?? [] }),
    nodeId: 'self',
    store,
    cluster: {
      members: options.members ?? (() => [{ id: 'self', state: 'alive', groups: [] }]),
      serveProtocol: () => undefined,
      requestMember: () => Promise.reject(new Error('no other node in this test')),
    },
    events,
    logger: Logger.create({ level: 'error', format: 'text', sink: { kind: 'fd', fd: 2 } }),
  });
  await kv.start();
  return { kv, store, events, changes, dataDir, routes: kv.routes() };
}

describe('the KV subsystem', () => {
  it('publishes kv-change for each write and delete it holds', async () => {
    const { kv, changes, routes } = await node({});
    const put = (await call(routes, 'PUT', '/kv/:key*', 'app/x', 'one')) as HttpReply;
    const index = (put.body as { index: number }).index;
    expect(changes).toEqual([{ key: 'app/x', modify_index: index, deleted: false }]);
    await call(routes, 'DELETE', '/kv/:key*', 'app/x');
    expect(changes).toHaveLength(2);
    expect(changes[1]).toMatchObject({ key: 'app/x', deleted: true });
    expect(changes[1]!.modify_index).toBeGreaterThan(index);
    await kv.stop();
  });

  it('answers 503 before it has joined when told to join, and keeps its ring across a restart', async () => {
    const lonely = await node({ seeds: ['127.0.0.9'] });
    await expect(call(lonely.routes, 'GET', '/kv/:key*', 'app/x')).rejects.toMatchObject({ status: 503 });
    await lonely.kv.stop();

    // A node that knew two others: restarted, it still counts them (as failed) before gossip
    // tells it about them, so a write needs them (W = 2 of 3), and fails rather than landing on
    // this node alone.
    let members: Array<{ id: string; state: string; groups: string[] }> = [
      { id: 'self', state: 'alive', groups: [] },
      { id: 'other-1', state: 'alive', groups: [] },
      { id: 'other-2', state: 'alive', groups: [] },
    ];
    const first = await node({ members: () => members });
    await expect(call(first.routes, 'GET', '/agent/kv/stats', '')).resolves.toMatchObject({
      ring: ['other-1', 'other-2', 'self'],
    });
    await first.kv.stop();
    await first.store.close();
    members = [{ id: 'self', state: 'alive', groups: [] }];
    const restarted = await node({ members: () => members, dataDir: first.dataDir });
    await expect(call(restarted.routes, 'GET', '/agent/kv/stats', '')).resolves.toMatchObject({
      ring: ['other-1', 'other-2', 'self'],
    });
    const write = call(restarted.routes, 'PUT', '/kv/:key*', 'app/y', 'v');
    await expect(write).rejects.toBeInstanceOf(HttpError);
    await expect(write).rejects.toMatchObject({ status: 503 });
    await restarted.kv.stop();
  });
});
