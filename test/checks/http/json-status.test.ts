// The json_status check (megaphone's) against an in-test status endpoint on 127.0.0.1.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { CheckRunner } from '../../../agent/checks/check-type.js';
import { JSON_STATUS_CHECK_TYPE } from '../../../agent/checks/types/json-status.js';
import { runService, SERVICE_DEPENDENCIES } from '../service-fixtures.js';

const runners: CheckRunner[] = [];
let server: Server | undefined;
let answer = '';

afterEach(async () => {
  for (const runner of runners.splice(0)) await runner.close?.();
  server?.closeAllConnections();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

async function endpoint(): Promise<string> {
  server = createServer((_request, response) => {
    response.setHeader('content-type', 'application/json');
    response.end(answer);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/status`;
}

function check(body: Record<string, unknown>): CheckRunner {
  const runner = JSON_STATUS_CHECK_TYPE.create(
    { name: 'svc', body, packParameters: {} },
    SERVICE_DEPENDENCIES,
  );
  runners.push(runner);
  return runner;
}

describe('json_status check', () => {
  it.each([
    ['OK', 'ok'],
    ['Warning', 'warning'],
    ['Critical', 'critical'],
    ['Unknown', 'unknown'],
  ])('reports the status the endpoint gives (%s) with its message', async (status, state) => {
    const url = await endpoint();
    answer = JSON.stringify({ status, message: `queue depth is fine-ish (${status})` });
    expect(await runService(check({ url }))).toEqual({
      state,
      output: `queue depth is fine-ish (${status})`,
      perfdata: [],
    });
  });

  it('finds status and message at a jsonpath (addr: the object form)', async () => {
    const addr = await endpoint();
    answer = JSON.stringify({
      checks: { db: { status: 'Critical', message: 'replica lag 300 s' } },
      items: [{ status: 'OK' }],
    });
    expect(await runService(check({ addr, jsonpath: '$.checks.db' }))).toMatchObject({
      state: 'critical',
      output: 'replica lag 300 s',
    });
    expect(await runService(check({ url: addr, jsonpath: 'items[0]' }))).toMatchObject({
      state: 'ok',
      output: `${addr}: OK`,
    });
    const nowhere = await runService(check({ url: addr, jsonpath: '$.checks.cache' }));
    expect(nowhere).toMatchObject({ state: 'unknown' });
    expect(nowhere.output).toContain('no status (OK, Warning, Critical, Unknown) at checks.cache: null');
  });

  it('reports statusoverride instead, saying what was found', async () => {
    const url = await endpoint();
    answer = JSON.stringify({ status: 'Critical', message: 'disk full on a known host' });
    expect(await runService(check({ url, statusoverride: 'Warning' }))).toMatchObject({
      state: 'warning',
      output: 'disk full on a known host (CRITICAL, reported as WARNING: statusoverride)',
    });
  });

  it('is CRITICAL when the endpoint fails, UNKNOWN when it does not answer JSON; refuses a bad definition', async () => {
    const url = await endpoint();
    answer = 'not json';
    expect(await runService(check({ url }))).toMatchObject({
      state: 'unknown',
      output: `${url}: the answer is not JSON`,
    });
    const refused = await runService(check({ url: 'http://127.0.0.1:1/status' }));
    expect(refused.state).toBe('critical');
    expect(refused.output).toMatch(/ECONNREFUSED/);
    expect(() => check({ url, statusoverride: 'Fine' })).toThrow(/statusoverride: "Fine"/);
    expect(() => check({ url, jsonpath: '$.a[x]' })).toThrow(/jsonpath: cannot read/);
    expect(() => check({})).toThrow(/url: is required/);
  });
});
