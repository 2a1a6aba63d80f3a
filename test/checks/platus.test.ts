// Platus' status API (agent/checks/platus-routes.ts): its items made from check statuses as a pure
// function (Python's time formats, the state words, retries and last_state), then a real agent
// with a Platus services.yaml whose rest_http services point at an in-test server and at a closed
// port, answering GET /api/v1.0/status as Platus does, to whom the read-only routes allow.
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platusStatus, pythonDatetime, pythonTimedelta } from '../../agent/checks/platus-routes.js';
import { platusNotes } from '../../agent/config/platus.js';
import type {
  CheckRunAnswer,
  CheckState,
  CheckStatus,
  PlatusStatusAnswer,
  PlatusStatusItem,
} from '../../agent/shared/api-types.js';
import {
  cleanupAll,
  httpGet,
  prepareAgentDirs,
  type RunningAgent,
  startAgent,
  WITHOUT_PACKS,
} from '../helpers/agent-process.js';

afterAll(cleanupAll);

/** Platus' keys, in its order (Flask sorts them). */
const PLATUS_KEYS = ['checked', 'elapsed', 'last_state', 'name', 'node', 'retries', 'state', 'type'];
/** str(datetime.now()) and str(timedelta): `2017-04-30 16:58:04.687229`, `0:00:00.729046`. */
const PYTHON_DATETIME = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?$/;
const PYTHON_TIMEDELTA = /^\d+:\d\d:\d\d(\.\d{6})?$/;

function status(name: string, recent: CheckState[], extra: Partial<CheckStatus> = {}): CheckStatus {
  const state = recent.at(-1) ?? 'pending';
  return {
    name,
    type: 'evaluated',
    state,
    state_type: 'hard',
    attempt: 1,
    max_attempts: 3,
    last_hard_state: recent.at(-1) ?? 'ok',
    output: '',
    perfdata: [],
    ...(recent.length ? { last_run_at: '2026-12-05T11:00:00.250Z', duration_ms: 729.046 } : {}),
    flapping: false,
    percent_state_change: 0,
    recent_states: recent,
    interval_s: 60,
    retry_interval_s: 12,
    handlers: [],
    ...extra,
  };
}

describe("Python's formats of times, as Platus writes them", () => {
  it('checked: local time, microseconds, no fraction on a whole second', () => {
    const local = new Date(2017, 3, 30, 16, 57, 57, 459).getTime();
    expect(pythonDatetime(local * 1000 + 312)).toBe('2017-04-30 16:57:57.459312');
    expect(pythonDatetime(new Date(2017, 3, 30, 16, 57, 57).getTime() * 1000)).toBe('2017-04-30 16:57:57');
    expect(pythonDatetime(new Date(2017, 3, 3, 6, 7, 8, 1).getTime() * 1000)).toBe(
      '2017-04-03 06:07:08.001000',
    );
  });

  it('elapsed: str(timedelta)', () => {
    expect(pythonTimedelta(729_046)).toBe('0:00:00.729046');
    expect(pythonTimedelta(3_000_000)).toBe('0:00:03');
    expect(pythonTimedelta(((26 * 60 + 3) * 60 + 4) * 1_000_000 + 5)).toBe('1 day, 2:03:04.000005');
    expect(pythonTimedelta(2 * 86_400_000_000)).toBe('2 days, 0:00:00');
  });
});

describe('platusStatus', () => {
  const fromPlatus = (name: string, recent: CheckState[], type: string) =>
    status(name, recent, {
      type: 'http',
      notes: platusNotes({
        service: name,
        plugin: 'rest_http',
        type,
        name: `my-${name}`,
        node: `${name}.lan`,
        role: ['dev'],
      }),
    });

  it("a Platus service's check: Platus' type, name and node; ours for any other", () => {
    const { result } = platusStatus(
      [
        status('disk', ['ok', 'warning']),
        fromPlatus('web', ['ok'], 'App'),
        fromPlatus('db', ['critical'], 'Database'),
      ],
      'node-1',
    );
    // Sorted by type, as Platus sorts its answer.
    expect(result).toEqual([
      {
        checked: pythonDatetime(Date.parse('2026-12-05T11:00:00.250Z') * 1000 + 729_046),
        elapsed: '0:00:00.729046',
        last_state: 'operational',
        name: 'my-web',
        node: 'web.lan',
        retries: 0,
        state: 'operational',
        type: 'App',
      },
      expect.objectContaining({ name: 'my-db', node: 'db.lan', state: 'down', type: 'Database' }),
      expect.objectContaining({ name: 'disk', node: 'node-1', state: 'unhealthy', type: 'evaluated' }),
    ]);
    for (const item of result as PlatusStatusItem[]) expect(Object.keys(item)).toEqual(PLATUS_KEYS);
  });

  it('the state words; retries: non-operational results in a row; last_state: before them', () => {
    const one = (recent: CheckState[]) =>
      (platusStatus([status('c', recent)], 'n').result as PlatusStatusItem[])[0]!;
    expect(one(['critical'])).toMatchObject({ state: 'down', retries: 1, last_state: 'down' });
    expect(one(['ok', 'critical', 'warning'])).toMatchObject({
      state: 'unhealthy',
      retries: 2,
      last_state: 'operational',
    });
    expect(one(['unknown', 'critical', 'unknown'])).toMatchObject({
      state: 'unknown',
      retries: 3,
      last_state: 'unknown',
    });
    expect(one(['critical', 'ok'])).toMatchObject({
      state: 'operational',
      retries: 0,
      last_state: 'operational',
    });
    // Pending: nothing run, nothing to stamp.
    const pending = one([]);
    expect(pending).toEqual({
      last_state: 'unknown',
      name: 'c',
      node: 'n',
      retries: 0,
      state: 'unknown',
      type: 'evaluated',
    });
  });

  it('a check with items is one item per instance, member or worker, named as Platus names them', () => {
    const fleet = status('fleet', ['ok', 'critical'], {
      type: 'aws_ec2',
      notes: platusNotes({
        service: 'fleet',
        plugin: 'aws_ec2',
        type: 'Compute',
        name: 'web-fleet',
        node: 'eu-west-1',
        role: ['ops'],
      }),
      items: [
        { name: 'web-1', id: 'i-01', state: 'ok', output: 'i-01 is running, t3.small in eu-west-1a' },
        { name: 'web-3', id: 'i-03', state: 'critical', output: 'i-03 is stopped' },
        { name: 'i-05', state: 'critical', output: 'i-05 is terminated' },
        { name: 'db-1', id: 'i-04', state: 'warning', output: 'i-04 is pending' },
      ],
    });
    const replicaSet = status('rs', ['warning'], {
      type: 'mongodb',
      items: [
        { name: 'db1:27017', state: 'ok', output: 'PRIMARY' },
        { name: 'db2:27018', state: 'critical', output: '(not reachable/healthy), health 0' },
      ],
    });
    const workers = status('workers', ['ok'], {
      type: 'celery',
      items: [{ name: 'celery@web1', state: 'ok', output: 'answered pong' }],
    });
    // Items but none in the last result (the API could not be asked): one item, as before.
    const failed = status('other-fleet', ['critical'], { type: 'aws_ec2', items: [] });
    const { result } = platusStatus([workers, replicaSet, fleet, failed], 'node-1');
    const checked = pythonDatetime(Date.parse('2026-12-05T11:00:00.250Z') * 1000 + 729_046);
    const stamp = { checked, elapsed: '0:00:00.729046' };
    expect(result).toEqual([
      // Compute (Platus' data.type) first, the instances in the check's order; Platus' node is
      // the instance's id, its Name tag the nodename.
      {
        ...stamp,
        last_state: 'operational',
        name: 'web-fleet',
        node: 'i-01',
        nodename: 'web-1',
        retries: 0,
        state: 'operational',
        type: 'Compute',
      },
      {
        ...stamp,
        last_state: 'operational',
        name: 'web-fleet',
        node: 'i-03',
        nodename: 'web-3',
        retries: 1,
        state: 'down',
        type: 'Compute',
      },
      {
        ...stamp,
        last_state: 'operational',
        name: 'web-fleet',
        node: 'i-05',
        retries: 1,
        state: 'down',
        type: 'Compute',
      },
      expect.objectContaining({ name: 'web-fleet', node: 'i-04', nodename: 'db-1', state: 'unhealthy' }),
      {
        ...stamp,
        last_state: 'down',
        name: 'other-fleet',
        node: 'node-1',
        retries: 1,
        state: 'down',
        type: 'aws_ec2',
      },
      // A worker is its node name; a member its host, without the port (Platus').
      expect.objectContaining({ name: 'workers', node: 'celery@web1', state: 'operational', type: 'celery' }),
      expect.objectContaining({ name: 'rs', node: 'db1', state: 'operational', retries: 0, type: 'mongodb' }),
      expect.objectContaining({ name: 'rs', node: 'db2', state: 'down', retries: 1, type: 'mongodb' }),
    ]);
    // Keys in Platus' order, nodename (aws_ec2's) after node.
    for (const item of result as PlatusStatusItem[])
      expect(Object.keys(item)).toEqual(
        'nodename' in item ? [...PLATUS_KEYS.slice(0, 5), 'nodename', ...PLATUS_KEYS.slice(5)] : PLATUS_KEYS,
      );
  });

  it('no check: Platus\' ["No data"]', () => {
    expect(platusStatus([], 'n')).toEqual({ result: ['No data'] });
  });
});

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function servicesYaml(upPort: number, downPort: number): string {
  return `---
up:
    role: admin
    type: rest_http
    interval: 1h
    properties:
        host: 127.0.0.1
        port: ${upPort}
        protocol: http
    data:
        type: App
        name: myapp-up
        url: /api/v1.0/health

down:
    role:
        - dev
        - app
    type: rest_http
    interval: 1h
    max_attempts: 1
    properties:
        host: 127.0.0.1
        port: ${downPort}
        protocol: http
    data:
        type: App
        name: myapp-down
`;
}

const LOCAL_CHECK_YAML = `check:
  name: local
  interval: 1h
  critical_if: "1 == 2"
  ok_output: "'fine'"
`;

describe('an agent with a Platus services.yaml', () => {
  let server: Server;
  const requests: Array<{ url?: string; headers: IncomingHttpHeaders }> = [];
  let agent: RunningAgent;
  let tcp: string;
  let socket: string;

  beforeAll(async () => {
    server = createServer((request, response) => {
      requests.push({ url: request.url, headers: request.headers });
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"health": "Good doctor!"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const upPort = (server.address() as AddressInfo).port;
    const dirs = await prepareAgentDirs(`node_name: platus-test\n${WITHOUT_PACKS}`);
    writeFileSync(join(dirs.configDir, 'conf.d', 'services.yaml'), servicesYaml(upPort, await closedPort()));
    writeFileSync(join(dirs.configDir, 'conf.d', 'local.yml'), LOCAL_CHECK_YAML);
    agent = await startAgent(dirs);
    tcp = `http://127.0.0.1:${dirs.port}`;
    socket = `unix:${join(dirs.dataDir, 'api.sock')}:`;
  });

  afterAll(async () => {
    agent?.process.kill('SIGTERM');
    await agent?.exited;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** Runs a check now, through the unix socket (admin). */
  async function run(name: string): Promise<CheckRunAnswer> {
    const reply = await httpGet(`${socket}/monitoring/checks/${name}/run`, { method: 'POST' });
    expect(reply.status, reply.body).toBe(200);
    return JSON.parse(reply.body) as CheckRunAnswer;
  }

  it('answers both services, operational and down, and the conf.d check, with Platus fields', async () => {
    expect((await run('up')).state).toBe('ok');
    // Platus asks JSON of the service, at data.url.
    expect(requests.at(-1)).toMatchObject({
      url: '/api/v1.0/health',
      headers: { accept: 'application/json', 'content-type': 'application/json' },
    });
    expect((await run('down')).state).toBe('critical');
    expect((await run('down')).state).toBe('critical');
    expect((await run('local')).state).toBe('ok');

    const before = Date.now();
    const reply = await httpGet(`${tcp}/api/v1.0/status`);
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toMatch(/^application\/json/);
    const { result } = JSON.parse(reply.body) as PlatusStatusAnswer;
    const items = result as PlatusStatusItem[];
    // Sorted by type: App (Platus' data.type) before evaluated.
    expect(items.map((item) => item.name)).toEqual(['myapp-down', 'myapp-up', 'local']);
    const [down, up, local] = items;
    expect(up).toEqual({
      checked: expect.stringMatching(PYTHON_DATETIME) as unknown,
      elapsed: expect.stringMatching(PYTHON_TIMEDELTA) as unknown,
      last_state: 'operational',
      name: 'myapp-up',
      node: '127.0.0.1',
      retries: 0,
      state: 'operational',
      type: 'App',
    });
    expect(down).toMatchObject({
      last_state: 'down',
      name: 'myapp-down',
      node: '127.0.0.1',
      state: 'down',
      type: 'App',
    });
    // Every run was down (a scheduled one may have come too).
    expect(down!.retries).toBeGreaterThanOrEqual(2);
    expect(local).toMatchObject({
      name: 'local',
      node: 'platus-test',
      state: 'operational',
      type: 'evaluated',
    });
    for (const item of items) {
      expect(Object.keys(item)).toEqual(PLATUS_KEYS);
      expect(typeof item.retries).toBe('number');
      // Local time, as Python's datetime.now(): within the last minute.
      const [day, time] = item.checked!.split(' ');
      const [year, month, date] = day!.split('-').map(Number);
      const [hours, minutes, seconds] = time!.split(':').map(Number);
      const checked = new Date(year!, month! - 1, date, hours, minutes, Math.floor(seconds!)).getTime();
      expect(checked).toBeLessThanOrEqual(before);
      expect(before - checked).toBeLessThan(60_000);
      expect(item.elapsed).toMatch(/^0:00:0\d/);
    }
  });

  it('is a read route: tokenless loopback callers read it; not another Host, nor another method', async () => {
    const routes = JSON.parse((await httpGet(`${tcp}/api/routes`)).body) as Array<{
      method: string;
      path: string;
      access: string;
    }>;
    expect(routes).toContainEqual(
      expect.objectContaining({ method: 'GET', path: '/api/v1.0/status', access: 'read' }),
    );
    expect((await httpGet(`${tcp}/api/v1.0/status`)).status).toBe(200);
    // A page of another site, or a DNS name rebound to 127.0.0.1, reads nothing without a token.
    expect(
      (await httpGet(`${tcp}/api/v1.0/status`, { headers: { host: 'status.example.com' } })).status,
    ).toBe(403);
    expect(
      (await httpGet(`${tcp}/api/v1.0/status`, { headers: { origin: 'http://evil.example' } })).status,
    ).toBe(403);
    expect((await httpGet(`${tcp}/api/v1.0/status`, { method: 'POST' })).status).toBe(405);
  });
});

describe('an agent with API tokens', () => {
  const readToken = 'platus-reader-token-0123';
  let tcp: string;
  let agent: RunningAgent;

  beforeAll(async () => {
    const dirs = await prepareAgentDirs(
      `node_name: platus-auth\n${WITHOUT_PACKS}auth:\n  tokens:\n    - name: dashboards\n      token: ${readToken}\n      role: read\n`,
    );
    writeFileSync(
      join(dirs.configDir, 'conf.d', 'services.yaml'),
      servicesYaml(await closedPort(), await closedPort()),
    );
    agent = await startAgent(dirs);
    tcp = `http://127.0.0.1:${dirs.port}`;
  });

  afterAll(async () => {
    agent?.process.kill('SIGTERM');
    await agent?.exited;
  });

  it('refuses a caller without a token (401); a read token reads', async () => {
    expect((await httpGet(`${tcp}/api/v1.0/status`)).status).toBe(401);
    const reply = await httpGet(`${tcp}/api/v1.0/status`, {
      headers: { authorization: `Bearer ${readToken}` },
    });
    expect(reply.status).toBe(200);
    const { result } = JSON.parse(reply.body) as PlatusStatusAnswer;
    expect((result as PlatusStatusItem[]).map((item) => item.name)).toEqual(['myapp-down', 'myapp-up']);
  });
});
