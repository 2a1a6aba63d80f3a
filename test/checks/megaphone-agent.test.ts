// megaphone's runtime registry on a real agent: an in-test megaphone-style status endpoint is
// registered with POST /checks, listed by GET /checks in megaphone's shape, turns /status CRITICAL
// when it says Critical, survives a config reload and a restart, and DELETE removes it (/status
// recovers). A configured check's name is refused (409), and a caller without a token reads the
// registry but may not change it.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  CheckDetail,
  MegaphoneCheckAnswer,
  MegaphoneCheckList,
  NodeMonitoringState,
  StatusAnswer,
} from '../../agent/shared/api-types.js';
import {
  cleanupAll,
  httpGet,
  prepareAgentDirs,
  type RunningAgent,
  startAgent,
  type TestAgentDirs,
  WITHOUT_PACKS,
} from '../helpers/agent-process.js';

const CONFIGURED_YAML = `- check:
    name: configured
    interval: 1h
    max_attempts: 1
    critical_if: "file_exists('/nonexistent/opsbro-megaphone-test')"
    ok_output: "'configured is fine'"
`;

/** What the status endpoint answers now. */
let answer: unknown = { status: 'OK', message: 'billing is fine' };
let server: Server;
let endpoint = '';

afterAll(async () => {
  cleanupAll();
  server?.closeAllConnections();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
});

describe("megaphone's check registry on a real agent", () => {
  let dirs: TestAgentDirs;
  let agent: RunningAgent;
  let socket: string;
  let tcp: string;

  type Reply = { status: number; body: unknown };
  const call = async (url: string, method = 'GET', body?: unknown): Promise<Reply> => {
    const reply = await httpGet(url, {
      method,
      // megaphone's clients post JSON without a content type (python requests' data=).
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    return { status: reply.status, body: reply.body ? (JSON.parse(reply.body) as unknown) : undefined };
  };
  const admin = (path: string, method = 'GET', body?: unknown) => call(`${socket}${path}`, method, body);
  const read = <T>(path: string) => call(`${tcp}${path}`).then((reply) => reply.body as T);

  /** Polls `path` until `ok` holds (the checks run every second here). */
  async function until<T>(path: string, ok: (value: T) => boolean, ms = 20_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = await read<T>(path);
      if (ok(value)) return value;
      if (Date.now() > deadline)
        throw new Error(`${path} never became as expected: ${JSON.stringify(value)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  const statusOf = (name: string) => (status: StatusAnswer) =>
    status.checks.find((check) => check.name === name)?.status;

  beforeAll(async () => {
    server = createServer((request, response) => {
      response.setHeader('content-type', 'application/json');
      response.end(
        JSON.stringify(
          request.url === '/nested' ? { megaphone: { status: 'OK' }, version: '2.0.0' } : answer,
        ),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    dirs = await prepareAgentDirs(`node_name: megaphone-test\n${WITHOUT_PACKS}`);
    writeFileSync(join(dirs.configDir, 'conf.d', 'checks.yml'), CONFIGURED_YAML);
    agent = await startAgent(dirs);
    socket = `unix:${join(dirs.dataDir, 'api.sock')}:`;
    tcp = `http://127.0.0.1:${dirs.port}`;
  });

  it('POST /checks registers a check; GET /checks lists it as megaphone does; it runs like any check', async () => {
    expect(await read<MegaphoneCheckList>('/checks')).toEqual({});
    const url = `${endpoint}/status`;
    expect(await admin('/checks', 'POST', { id: 'billing', url, interval: '1s' })).toEqual({
      status: 200,
      body: { id: 'billing', url, created: true },
    });
    const nested = { addr: `${endpoint}/nested`, jsonpath: 'megaphone/status', statusoverride: false };
    expect(await admin('/checks', 'POST', { id: 'billing-db', url: nested })).toMatchObject({
      status: 200,
      body: { created: true },
    });
    expect(await read<MegaphoneCheckList>('/checks')).toEqual({ billing: url, 'billing-db': nested });

    const status = await until<StatusAnswer>('/status', (each) => statusOf('billing')(each) === 'OK');
    expect(status.status).toBe('OK');
    expect(await read<MegaphoneCheckAnswer>('/checks/billing')).toMatchObject({
      id: 'billing',
      status: 'OK',
      message: 'billing is fine',
      url,
      state_type: 'hard',
    });
    // A check as the others: in the table gossip spreads, with the registry's defaults.
    const state = await read<NodeMonitoringState>('/monitoring/state');
    expect(state.checks.map((brief) => brief.name)).toEqual(['billing', 'billing-db', 'configured']);
    expect(state.statuses.find((each) => each.name === 'billing-db')).toMatchObject({
      type: 'json_status',
      interval_s: 60,
      max_attempts: 3,
      source: `${join(dirs.dataDir, 'registered-checks.json')}:1`,
    });
    // Its first run falls somewhere in its 60 s: run now, as any check can be.
    expect((await admin('/monitoring/checks/billing-db/run', 'POST')).body).toMatchObject({
      state: 'ok',
      output: 'status from megaphone.status: OK',
    });
    expect(await read<MegaphoneCheckAnswer>('/checks/billing-db')).toMatchObject({
      status: 'OK',
      message: 'status from megaphone.status: OK',
      url: nested,
    });
  });

  it('/status goes CRITICAL when the endpoint says Critical (soft first, then hard)', async () => {
    answer = { status: 'Critical', message: 'the billing database is down' };
    const status = await until<StatusAnswer>('/status', (each) => each.status === 'CRITICAL');
    expect(status.message).toBe('CRITICAL billing: the billing database is down');
    const detail = await read<CheckDetail>('/monitoring/checks/billing');
    expect(detail.status).toMatchObject({ state: 'critical', state_type: 'hard', max_attempts: 3 });
    // Confirmed by three results in a row, as any check with max_attempts 3.
    const changes = detail.changes.map(({ to, state_type }) => `${to} ${state_type}`);
    expect(changes[0]).toBe('critical hard');
    expect(changes).toContain('critical soft');
    expect(await read<MegaphoneCheckAnswer>('/checks/billing')).toMatchObject({
      status: 'Critical',
      message: 'the billing database is down',
      state_type: 'hard',
    });
  });

  it("refuses a configured check's name (409), a bad id (400), a URL json_status refuses (422)", async () => {
    const clash = await admin('/checks', 'POST', { id: 'configured', url: `${endpoint}/status` });
    expect(clash).toEqual({
      status: 409,
      body: {
        error: `configured is a configured check (${join(dirs.configDir, 'conf.d', 'checks.yml')}:1): a registration may not replace it; choose another id`,
      },
    });
    const bad = await admin('/checks', 'POST', { id: 'no spaces', url: `${endpoint}/status` });
    expect(bad.status).toBe(400);
    expect((bad.body as { error: string }).error).toMatch(/^id: "no spaces" is not a check name/);
    expect((await admin('/checks', 'POST', 'not json')).status).toBe(400);
    const ftp = await admin('/checks', 'POST', { id: 'ftp', url: 'ftp://127.0.0.1/status' });
    expect(ftp).toEqual({
      status: 422,
      body: { error: 'check ftp: url: "ftp://127.0.0.1/status": only http:// and https://' },
    });
    expect((await admin('/checks/configured', 'DELETE')).status).toBe(409);
    expect((await admin('/checks/nothing', 'DELETE')).status).toBe(404);
    expect((await call(`${tcp}/checks/nothing`)).status).toBe(404);
    expect(Object.keys(await read<MegaphoneCheckList>('/checks'))).toEqual(['billing', 'billing-db']);
  });

  it('a caller without a token reads the registry but may not register nor delete (403)', async () => {
    const refused = [
      await call(`${tcp}/checks`, 'POST', { id: 'sneaky', url: `${endpoint}/status` }),
      await call(`${tcp}/checks/billing`, 'DELETE'),
      await call(`${tcp}/checks`, 'POST', { id: '--global', url: 'no' }),
    ];
    for (const reply of refused) {
      expect(reply.status).toBe(403);
      expect((reply.body as { error: string }).error).toMatch(/needs the admin role/);
    }
    expect(Object.keys(await read<MegaphoneCheckList>('/checks'))).toEqual(['billing', 'billing-db']);
  });

  it("megaphone's --global id is the status override", async () => {
    expect((await admin('/checks', 'POST', { id: '--global', url: 'draining' })).status).toBe(200);
    expect((await read<StatusAnswer>('/status')).override).toMatchObject({ reason: 'draining' });
    expect(await read<MegaphoneCheckList>('/checks')).toMatchObject({ '--global': 'draining' });
    expect(await read<MegaphoneCheckAnswer>('/checks/--global')).toMatchObject({
      status: 'Critical',
      message: 'draining',
    });
    expect(await admin('/checks/--global', 'DELETE')).toEqual({
      status: 200,
      body: { id: '--global', deleted: true },
    });
    expect((await read<StatusAnswer>('/status')).override).toBeUndefined();
  });

  it('a config reload keeps the registrations; a configured check that takes a name runs instead', async () => {
    expect((await admin('/agent/reload', 'POST')).status).toBe(200);
    expect(Object.keys(await read<MegaphoneCheckList>('/checks'))).toEqual(['billing', 'billing-db']);
    expect((await read<StatusAnswer>('/status')).status).toBe('CRITICAL');

    const extra = join(dirs.configDir, 'conf.d', 'db.yml');
    writeFileSync(
      extra,
      `check:\n  name: billing-db\n  interval: 1h\n  critical_if: "file_exists('/nonexistent/x')"\n  ok_output: "'from the configuration'"\n`,
    );
    expect((await admin('/agent/reload', 'POST')).status).toBe(200);
    expect(await read<MegaphoneCheckAnswer>('/checks/billing-db')).toMatchObject({
      status: 'Unknown',
      message: `not run: the configured check billing-db (${extra}:1) took this name`,
    });
    rmSync(extra);
    expect((await admin('/agent/reload', 'POST')).status).toBe(200);
    expect((await admin('/monitoring/checks/billing-db/run', 'POST')).body).toMatchObject({ state: 'ok' });
    expect(await read<MegaphoneCheckAnswer>('/checks/billing-db')).toMatchObject({
      status: 'OK',
      message: 'status from megaphone.status: OK',
    });
  });

  it('a restart keeps the registrations (and where their checks were)', async () => {
    agent.process.kill('SIGTERM');
    expect((await agent.exited).code).toBe(0);
    agent = await startAgent(dirs);
    // The API's port is the agent's pick, anew at each start.
    tcp = `http://127.0.0.1:${dirs.port}`;
    expect(Object.keys(await read<MegaphoneCheckList>('/checks'))).toEqual(['billing', 'billing-db']);
    const status = await read<StatusAnswer>('/status');
    expect(status.status).toBe('CRITICAL');
    expect(statusOf('billing')(status)).toBe('CRITICAL');
  });

  it('DELETE removes the registration and its check; /status recovers', async () => {
    expect(await admin('/checks/billing', 'DELETE')).toEqual({
      status: 200,
      body: { id: 'billing', deleted: true },
    });
    expect(await read<MegaphoneCheckList>('/checks')).toEqual({
      'billing-db': { addr: `${endpoint}/nested`, jsonpath: 'megaphone/status', statusoverride: false },
    });
    expect((await call(`${tcp}/checks/billing`)).status).toBe(404);
    const status = await until<StatusAnswer>('/status', (each) => each.status === 'OK');
    expect(status.checks.map((check) => check.name)).toEqual(['billing-db', 'configured']);
    expect(
      (
        JSON.parse(readFileSync(join(dirs.dataDir, 'registered-checks.json'), 'utf8')) as {
          checks: unknown[];
        }
      ).checks,
    ).toEqual([expect.objectContaining({ id: 'billing-db' })]);
  });
});
