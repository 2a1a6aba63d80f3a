// A real agent with an http check in conf.d: a run asked over its API (what `opsbro checks run`
// asks; the CLI itself is spawned synchronously, which would stall this process's server) runs it
// against a local server,
// the answer carries the state, the output, the perfdata and the timed trace; the server gone, the
// same check is CRITICAL and says the connection was refused.
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { CheckRunAnswer } from '../../../agent/shared/api-types.js';
import {
  cleanupAll,
  prepareAgentDirs,
  httpGet,
  startAgent,
  WITHOUT_PACKS,
} from '../../helpers/agent-process.js';

let server: Server | undefined;
afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  cleanupAll();
});

it('runs an http check from conf.d, and says why when the server is gone', async () => {
  server = createServer((_request, response) => {
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ status: 'UP' }));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const dirs = await prepareAgentDirs(`node_name: http-test\n${WITHOUT_PACKS}`);
  writeFileSync(
    join(dirs.configDir, 'conf.d', 'web.yml'),
    [
      'check:',
      '  name: web',
      '  type: http',
      '  interval: 1h',
      `  url: http://127.0.0.1:${port}/health`,
      '  conditions: ["[STATUS] == 200", "[BODY].status == UP"]',
      '',
    ].join('\n'),
  );
  await startAgent(dirs);
  const runWeb = async (): Promise<CheckRunAnswer> => {
    const reply = await httpGet(`unix:${join(dirs.dataDir, 'api.sock')}:/monitoring/checks/web/run`, {
      method: 'POST',
    });
    expect(reply.status, reply.body).toBe(200);
    return JSON.parse(reply.body) as CheckRunAnswer;
  };
  const answer = await runWeb();
  expect(answer).toMatchObject({ state: 'ok' });
  expect(answer.output).toMatch(
    new RegExp(`^GET http://127\\.0\\.0\\.1:${port}/health: HTTP 200 in \\d+ ms$`),
  );

  server.closeAllConnections();
  await new Promise((resolve) => server!.close(resolve));
  server = undefined;
  const critical = await runWeb();
  expect(critical.state).toBe('critical');
  expect(critical.output).toMatch(/ECONNREFUSED/);
});
