// The elasticsearch and kubernetes checks against in-test servers speaking those APIs on
// 127.0.0.1: _cluster/health with basic auth, and an API server's /readyz?verbose over TLS (an
// openssl-made CA) with a bearer token, reached by keys or through a kubeconfig file.
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CheckRunner, CheckType } from '../../../agent/checks/check-type.js';
import { ELASTICSEARCH_CHECK_TYPE } from '../../../agent/checks/types/elasticsearch.js';
import { KUBERNETES_CHECK_TYPE } from '../../../agent/checks/types/kubernetes.js';
import { makeTestPki, type TestPki } from './test-pki.js';
import { runService, SERVICE_DEPENDENCIES } from '../service-fixtures.js';

const runners: CheckRunner[] = [];
const servers: Server[] = [];

function runner(type: CheckType, body: Record<string, unknown>): CheckRunner {
  const created = type.create({ name: 'svc', body, packParameters: {} }, SERVICE_DEPENDENCIES);
  runners.push(created);
  return created;
}

const run = runService;

async function listen(server: Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

afterEach(async () => {
  for (const created of runners.splice(0)) await created.close?.();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

describe('elasticsearch check', () => {
  let health: Record<string, unknown> = {};
  let url = '';
  const seenAuth: Array<string | undefined> = [];

  async function elasticsearch(): Promise<void> {
    const port = await listen(
      createServer((request: IncomingMessage, response: ServerResponse) => {
        seenAuth.push(request.headers.authorization);
        if (request.url !== '/_cluster/health') {
          response.statusCode = 404;
          return response.end('{"error":"no handler"}');
        }
        response.setHeader('content-type', 'application/json');
        response.end(JSON.stringify(health));
      }),
    );
    url = `http://127.0.0.1:${port}`;
  }

  const base = {
    cluster_name: 'logs',
    number_of_nodes: 3,
    number_of_data_nodes: 3,
    active_shards: 20,
    relocating_shards: 0,
    initializing_shards: 0,
    active_shards_percent_as_number: 100,
  };

  it.each([
    ['green', 0, 'ok', 'is green: 3 nodes, 20 active shards, 0 unassigned'],
    ['yellow', 4, 'warning', 'is yellow (replicas unassigned): 3 nodes, 20 active shards, 4 unassigned'],
    ['red', 9, 'critical', 'is red (primary shards unassigned): 3 nodes, 20 active shards, 9 unassigned'],
  ])('%s is %s', async (status, unassigned, state, output) => {
    await elasticsearch();
    health = { ...base, status, unassigned_shards: unassigned };
    const result = await run(runner(ELASTICSEARCH_CHECK_TYPE, { url, username: 'elastic', password: 'pw' }));
    expect(result.state).toBe(state);
    expect(result.output).toBe(`elasticsearch ${url} cluster "logs" ${output}`);
    expect(result.perfdata).toContainEqual({ label: 'unassigned_shards', value: unassigned, uom: '' });
    expect(result.perfdata).toContainEqual({ label: 'active_shards_percent', value: 100, uom: '%' });
    expect(seenAuth.at(-1)).toBe(`Basic ${Buffer.from('elastic:pw').toString('base64')}`);
  });

  it('is CRITICAL when it cannot ask, UNKNOWN on an answer it cannot read', async () => {
    await elasticsearch();
    health = { status: 'purple' };
    expect(await run(runner(ELASTICSEARCH_CHECK_TYPE, { url }))).toMatchObject({
      state: 'unknown',
      output: `elasticsearch ${url}: unknown health status "purple"`,
    });
    const refused = await run(runner(ELASTICSEARCH_CHECK_TYPE, { url: 'http://127.0.0.1:1' }));
    expect(refused.state).toBe('critical');
    expect(refused.output).toMatch(/^elasticsearch http:\/\/127\.0\.0\.1:1: connect ECONNREFUSED/);
    expect(() => runner(ELASTICSEARCH_CHECK_TYPE, { url: 'http://x', username: 'a' })).toThrow(/go together/);
  });
});

describe('kubernetes check', () => {
  let pki: TestPki;
  const pem = (name: string) => pki.pem(name);
  let failing: string[] = [];
  let server = '';

  beforeAll(() => {
    pki = makeTestPki([{ name: 'api', days: 30, usage: 'server' }]);
  });
  afterAll(() => pki.clean());

  const CHECKS = ['ping', 'log', 'etcd', 'informer-sync', 'poststarthook/start-apiextensions-informers'];

  async function apiServer(): Promise<void> {
    const port = await listen(
      createTlsServer({ cert: pem('api.pem'), key: pem('api.key') }, (request, response) => {
        if (request.headers.authorization !== 'Bearer sa-token') {
          response.statusCode = 401;
          return response.end('{"kind":"Status","status":"Failure","message":"Unauthorized","code":401}');
        }
        const endpoint = (request.url ?? '').split('?')[0]!.slice(1);
        const lines = CHECKS.map((name) =>
          failing.includes(name) ? `[-]${name} failed: reason withheld` : `[+]${name} ok`,
        );
        response.statusCode = failing.length ? 500 : 200;
        response.end(`${lines.join('\n')}\n${endpoint} check ${failing.length ? 'failed' : 'passed'}\n`);
      }),
    );
    server = `https://127.0.0.1:${port}`;
  }

  it('is OK while /readyz passes, CRITICAL naming the checks that fail, with the availability', async () => {
    await apiServer();
    failing = [];
    const check = runner(KUBERNETES_CHECK_TYPE, {
      server,
      token: 'sa-token',
      ca: pem('ca.pem'),
      availability_window: 4,
    });
    expect(await run(check)).toMatchObject({
      state: 'ok',
      output: `kubernetes ${server} readyz: ok (5 checks passed); available 100% of the last 1 run`,
    });
    failing = ['etcd', 'informer-sync'];
    const down = await run(check);
    expect(down.state).toBe('critical');
    expect(down.output).toBe(
      `kubernetes ${server} readyz: failed: etcd, informer-sync (HTTP 500); available 50% of the last 2 runs`,
    );
    expect(down.perfdata).toEqual([
      { label: 'availability', value: 50, uom: '%', min: 0, max: 100 },
      { label: 'checks_failed', value: 2, uom: '' },
    ]);
    failing = [];
    await run(check);
    await run(check);
    // The window holds the last 4: down, up, up, up.
    expect((await run(check)).output).toMatch(/available 75% of the last 4 runs$/);
  });

  it('reads server, CA and token from a kubeconfig context; a refused token is UNKNOWN', async () => {
    await apiServer();
    failing = [];
    const kubeconfig = join(pki.dir, 'config');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'current-context: other',
        'clusters:',
        `- name: test`,
        `  cluster: {server: "${server}", certificate-authority-data: ${Buffer.from(pem('ca.pem')).toString('base64')}}`,
        '- name: elsewhere',
        '  cluster: {server: "https://127.0.0.1:1"}',
        'users:',
        '- name: monitor',
        '  user: {token: sa-token}',
        '- name: stranger',
        '  user: {token: wrong}',
        'contexts:',
        '- name: test',
        '  context: {cluster: test, user: monitor}',
        '- name: other',
        '  context: {cluster: test, user: stranger}',
        '',
      ].join('\n'),
    );
    expect(
      (await run(runner(KUBERNETES_CHECK_TYPE, { kubeconfig, context: 'test', endpoint: 'livez' }))).output,
    ).toMatch(/livez: ok \(5 checks passed\)/);
    expect(await run(runner(KUBERNETES_CHECK_TYPE, { kubeconfig }))).toMatchObject({
      state: 'unknown',
      output: `kubernetes ${server} readyz: HTTP 401: the credentials were refused (token, certificate or RBAC)`,
    });
    expect(() => runner(KUBERNETES_CHECK_TYPE, { kubeconfig, context: 'nope' })).toThrow(
      `kubeconfig: ${kubeconfig} has no context named "nope"`,
    );
    expect(() => runner(KUBERNETES_CHECK_TYPE, { kubeconfig: join(pki.dir, 'missing') })).toThrow(
      /cannot read .*ENOENT/,
    );
    expect(() => runner(KUBERNETES_CHECK_TYPE, {})).toThrow('server: (or kubeconfig:) is required');
  });
});
