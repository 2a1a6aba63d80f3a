// The http check against real servers on 127.0.0.1: node:http and node:https (a CA, server and
// client certificates made by openssl for the test), through the check type's own runner.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CheckDependencies, CheckResult, CheckRunner } from '../../../agent/checks/check-type.js';
import { IN_AGENT_SPAWNER } from '../../../agent/checks/nagios/spawn-in-agent.js';
import { HTTP_CHECK_TYPE } from '../../../agent/checks/types/http.js';
import { Evaluator } from '../../../agent/evaluator/index.js';
import { fakeProviders } from '../../evaluator/helpers.js';
import { makeTestPki, type TestPki } from './test-pki.js';

const evaluator = new Evaluator(fakeProviders({}));
const dependencies: CheckDependencies = {
  evaluator,
  nagiosPluginsDir: '/usr/lib/nagios/plugins',
  pluginSpawner: IN_AGENT_SPAWNER,
};
const node = { name: 'test', hostname: 'test', address: '127.0.0.1' };
const runners: CheckRunner[] = [];
const servers: Server[] = [];

function runner(body: Record<string, unknown>): CheckRunner {
  const created = HTTP_CHECK_TYPE.create({ name: 'web', body, packParameters: {} }, dependencies);
  runners.push(created);
  return created;
}

/** A run as `checks run` makes it (verbose: the trace of a passing run too), unless `verbose` is false. */
async function run(created: CheckRunner, timeoutMs = 5_000, verbose = true): Promise<CheckResult> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    return await created.run({ signal: controller.signal, timeoutMs, node, verbose });
  } finally {
    clearTimeout(timer);
  }
}

async function listen(server: Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

type Handler = (request: IncomingMessage, response: ServerResponse, body: string) => void;
async function serve(handler: Handler): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => handler(request, response, body));
  });
  server.on('connection', () => connections++);
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}`, connections: () => connections };
}

afterEach(async () => {
  for (const created of runners.splice(0)) await created.close?.();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
afterAll(() => evaluator.close());

describe('http check: status, body, conditions', () => {
  it('is OK on a 200, with the response time as perfdata and a timed trace', async () => {
    const { url } = await serve((_request, response) => response.end('hello'));
    const result = await run(runner({ url: `${url}/health` }));
    expect(result.state).toBe('ok');
    expect(result.output).toMatch(new RegExp(`^GET ${url}/health: HTTP 200 in \\d+ ms$`));
    expect(result.perfdata[0]).toMatchObject({ label: 'time', uom: 's' });
    expect(result.perfdata[0]!.value).toBeGreaterThanOrEqual(0);
    const steps = result.longOutput!.split('\n').map((line) => line.replace(/^\s*[\d.]+ ms {2}/, ''));
    expect(steps).toEqual([
      expect.stringMatching(/^connect: 127\.0\.0\.1:\d+$/),
      'request sent',
      'first byte: HTTP 200',
      'body read: 5 bytes',
    ]);
  });

  it('a scheduled run keeps the trace of a failure only; an asked-for run says it always', async () => {
    const { url } = await serve((request, response) => {
      response.statusCode = request.url === '/down' ? 503 : 200;
      response.end('x');
    });
    const scheduled = await run(runner({ url: `${url}/health` }), 5_000, false);
    expect(scheduled.state).toBe('ok');
    expect(scheduled.longOutput).toBeUndefined();
    const failed = await run(runner({ url: `${url}/down` }), 5_000, false);
    expect(failed.longOutput).toMatch(/failed: HTTP 503/);
  });

  it('keeps the connection alive from one run to the next', async () => {
    const server = await serve((_request, response) => response.end('ok'));
    const check = runner({ url: server.url });
    await run(check);
    const second = await run(check);
    expect(second.state).toBe('ok');
    expect(second.longOutput).toContain('reuse: 127.0.0.1');
    expect(server.connections()).toBe(1);
  });

  it('is CRITICAL on an unexpected status, and takes codes, ranges and lists', async () => {
    const { url } = await serve((_request, response) => {
      response.statusCode = 503;
      response.end('down');
    });
    const critical = await run(runner({ url }));
    expect(critical.state).toBe('critical');
    expect(critical.output).toMatch(/HTTP 503, expected 200-299 \(in \d+ ms\)$/);
    expect(critical.longOutput).toMatch(/failed: HTTP 503, expected 200-299/);
    expect((await run(runner({ url, expected_status: 503 }))).state).toBe('ok');
    expect((await run(runner({ url, expected_status: ['200', '500-599'] }))).state).toBe('ok');
  });

  it('is CRITICAL, saying why, when nothing answers or the server is too slow', async () => {
    const refused = await serve(() => undefined);
    const port = new URL(refused.url).port;
    servers[0]!.closeAllConnections();
    await new Promise((resolve) => servers.shift()!.close(resolve));
    const closed = await run(runner({ url: `http://127.0.0.1:${port}/` }));
    expect(closed.state).toBe('critical');
    expect(closed.output).toMatch(/ECONNREFUSED 127\.0\.0\.1:\d+/);

    const silent = await serve(() => undefined); // never answers
    const slow = await run(runner({ url: silent.url }), 300);
    expect(slow.state).toBe('critical');
    expect(slow.output).toMatch(/timed out \(after \d+ ms\)$/);
  });

  it('searches the body: text, a JSON subset, a regular expression', async () => {
    const { url } = await serve((_request, response) => {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ status: 'UP', checks: { db: 'ok', cache: 'ok' }, version: 3 }));
    });
    expect((await run(runner({ url, search: '"status":"UP"' }))).state).toBe('ok');
    const missing = await run(runner({ url, search: 'DOWN' }));
    expect(missing.output).toMatch(/HTTP 200, the body does not contain "DOWN"$/);
    expect(
      (await run(runner({ url, search: { status: 'UP', checks: { db: 'ok' }, version: 3 } }))).state,
    ).toBe('ok');
    const different = await run(runner({ url, search: { checks: { cache: 'cold' } } }));
    expect(different.output).toMatch(/the JSON body has checks\.cache = "ok", not "cold"$/);
    expect((await run(runner({ url, search_regex: '"version":\\s*\\d+' }))).state).toBe('ok');
    const unmatched = await run(runner({ url, search_regex: '^DOWN' }));
    expect(unmatched.state).toBe('critical');
    expect(unmatched.output).toContain('the body does not match "^DOWN"');
  });

  it('evaluates Gatus conditions and names the one that failed, with its value', async () => {
    const { url } = await serve((_request, response) =>
      response.end(JSON.stringify({ status: 'DOWN', items: [1, 2] })),
    );
    expect(
      (
        await run(
          runner({
            url,
            conditions: ['[STATUS] == 200', 'len([BODY].items) == 2', '[RESPONSE_TIME] < 5000'],
          }),
        )
      ).state,
    ).toBe('ok');
    const failed = await run(runner({ url, conditions: ['[STATUS] == 200', '[BODY].status == UP'] }));
    expect(failed.state).toBe('critical');
    expect(failed.output).toMatch(/condition failed: \[BODY\]\.status \(DOWN\) == UP$/);
  });

  it('sends method, body, headers, basic auth and a token header', async () => {
    const seen: Array<Record<string, unknown>> = [];
    const { url } = await serve((request, response, body) => {
      seen.push({ method: request.method, body, headers: request.headers });
      response.end('ok');
    });
    const basic = await run(
      runner({
        url: `${url}/?api_key=k3y`,
        method: 'POST',
        body: { hello: 'world' },
        request_headers: { 'x-trace': 'abc' },
        username: 'ops',
        password: 's3cret',
      }),
    );
    const tokened = await run(
      runner({ url, method: 'PUT', body: 'raw', token_header: 'PRIVATE-TOKEN', token: 'tok3n' }),
    );
    // The secrets go to the server, never into what the check shows.
    for (const shown of [basic, tokened].flatMap((result) => [result.output, result.longOutput ?? '']))
      expect(shown).not.toMatch(/s3cret|tok3n|k3y|b3BzOnMzY3JldA/);
    expect(basic.output).toContain(`POST ${url}/?…: HTTP 200`);
    expect(seen[0]).toMatchObject({
      method: 'POST',
      body: '{"hello":"world"}',
      headers: {
        'content-type': 'application/json',
        'x-trace': 'abc',
        authorization: `Basic ${Buffer.from('ops:s3cret').toString('base64')}`,
      },
    });
    expect(seen[1]).toMatchObject({ method: 'PUT', body: 'raw', headers: { 'private-token': 'tok3n' } });
  });

  it('follows redirects unless told not to', async () => {
    const { url } = await serve((request, response) => {
      if (request.url === '/old') {
        response.statusCode = 302;
        response.setHeader('location', '/new');
        return response.end();
      }
      response.end('moved here');
    });
    expect((await run(runner({ url: `${url}/old`, search: 'moved here' }))).state).toBe('ok');
    const kept = await run(runner({ url: `${url}/old`, follow_redirects: false }));
    expect(kept.output).toMatch(/HTTP 302, expected 200-299/);
    expect(
      (await run(runner({ url: `${url}/old`, follow_redirects: false, expected_status: 302 }))).state,
    ).toBe('ok');
  });

  it('asks a URL that redirected through the redirect-following client from then on, and never sends a POST twice', async () => {
    const seen: string[] = [];
    const { url } = await serve((request, response) => {
      seen.push(`${request.method} ${request.url}`);
      if (request.url === '/old') {
        response.statusCode = 302;
        response.setHeader('location', '/new');
        return response.end();
      }
      response.end('moved here');
    });
    const get = runner({ url: `${url}/old`, search: 'moved here' });
    expect((await run(get)).state).toBe('ok');
    // The first run met the redirect on the direct connection and asked again, following it.
    expect(seen.splice(0)).toEqual(['GET /old', 'GET /old', 'GET /new']);
    expect((await run(get)).state).toBe('ok');
    expect(seen.splice(0)).toEqual(['GET /old', 'GET /new']);
    // A POST is never asked twice: it follows redirects from its first run (then a GET, as browsers do).
    const post = runner({ url: `${url}/old`, method: 'POST', body: 'x', search: 'moved here' });
    expect((await run(post)).state).toBe('ok');
    expect(seen.splice(0)).toEqual(['POST /old', 'GET /new']);
  });

  it('reads at most max_body_bytes of a body', async () => {
    const { url } = await serve((_request, response) => response.end('x'.repeat(5_000_000) + 'END'));
    const result = await run(runner({ url, max_body_bytes: 1000, search: 'END' }));
    expect(result.state).toBe('critical');
    expect(result.longOutput).toContain('body read: 1000 bytes (cut)');
  });

  it('says a body was cut off by the server, and runs again on a new connection after a cut', async () => {
    let requests = 0;
    const { url, connections } = await serve((_request, response) => {
      requests++;
      if (requests === 1) {
        // Headers and half of the announced body, then the connection goes.
        response.writeHead(200, { 'content-length': '100' });
        response.write('x'.repeat(50));
        setTimeout(() => response.socket?.destroy(), 20);
      } else response.end('x'.repeat(2_000));
    });
    const created = runner({ url, max_body_bytes: 1000 });
    const broken = await run(created);
    expect(broken.state).toBe('critical');
    expect(broken.output).toMatch(/reading the body: /);
    // A body cut at the bound closes that connection: the next run opens another, and works.
    const cut = await run(created);
    expect(cut.longOutput).toContain('body read: 1000 bytes (cut)');
    const again = await run(created);
    expect(again.state).toBe('ok');
    expect(connections()).toBe(3);
  });

  it('refuses a definition it cannot run, when the check loads', () => {
    const refuse = (body: Record<string, unknown>) => () => runner(body);
    expect(refuse({})).toThrow(/url: \(or host:\) is required/);
    expect(refuse({ url: 'ftp://x/' })).toThrow(/only http:\/\/ and https:\/\//);
    expect(refuse({ url: 'http://u:p@x/' })).toThrow(/use username: and password:/);
    expect(refuse({ url: 'http://x/', cert: 'PEM' })).toThrow(/cert: and key: go together/);
    expect(refuse({ url: 'http://x/', expected_status: 'ok' })).toThrow(/not a code or a range/);
    expect(refuse({ url: 'http://x/', conditions: ['[STATUS] 200'] })).toThrow(/conditions: .*no comparison/);
    expect(refuse({ url: 'http://x/', search_regex: '(' })).toThrow(/search_regex: /);
  });

  it("takes Platus' host, port, protocol and path", async () => {
    const { url } = await serve((request, response) => response.end(request.url));
    const port = Number(new URL(url).port);
    const result = await run(
      runner({ host: '127.0.0.1', port, protocol: 'http', path: '/api/v1/ping', search: '/api/v1/ping' }),
    );
    expect(result.state).toBe('ok');
  });
});

/** The two login bodies, as far as the test reads them. */
interface KeystoneLogin {
  auth: {
    passwordCredentials?: { username: string; password: string };
    identity?: { password: { user: { name: string; password: string } } };
  };
}

describe('http check with OpenStack Keystone', () => {
  /** Keystone's v2 and v3 password logins, as the identity API answers them, and a service behind it. */
  async function keystone(options: { expiresInMs: number }) {
    const issued: string[] = [];
    const logins: Array<Record<string, unknown>> = [];
    const { url: identity } = await serve((request, response, body) => {
      const login = JSON.parse(body) as KeystoneLogin;
      logins.push({ path: request.url, login });
      const v3 = request.url === '/v3/auth/tokens';
      const user = v3 ? login.auth.identity!.password.user : login.auth.passwordCredentials!;
      if (user.password !== 'right') {
        response.statusCode = 401;
        return response.end(
          JSON.stringify({
            error: { code: 401, message: 'The request you have made requires authentication.' },
          }),
        );
      }
      const token = `token-${issued.length + 1}`;
      issued.push(token);
      const expires = new Date(Date.now() + options.expiresInMs).toISOString();
      response.statusCode = v3 ? 201 : 200;
      if (v3) {
        response.setHeader('x-subject-token', token);
        return response.end(JSON.stringify({ token: { expires_at: expires } }));
      }
      response.end(JSON.stringify({ access: { token: { id: token, expires } } }));
    });
    const service = await serve((request, response) => {
      const valid = issued.includes(String(request.headers['x-auth-token']));
      response.statusCode = valid ? 200 : 401;
      response.end(valid ? 'servers: 3' : 'no');
    });
    return { identity, service: service.url, issued, logins };
  }

  it.each([2, 3])(
    'logs in with identity v%i, sends X-Auth-Token, reuses the token until it expires',
    async (version) => {
      const stack = await keystone({ expiresInMs: 3_600_000 });
      const check = runner({
        url: stack.service,
        search: 'servers',
        keystone: {
          url: `${stack.identity}/v${version === 2 ? '2.0' : '3'}`,
          version,
          username: 'ops',
          password: 'right',
          tenant: 'admin',
        },
      });
      expect((await run(check)).state).toBe('ok');
      expect((await run(check)).state).toBe('ok');
      expect(stack.issued).toEqual(['token-1']);
      expect(stack.logins[0]).toMatchObject(
        version === 2
          ? {
              path: '/v2.0/tokens',
              login: { auth: { tenantName: 'admin', passwordCredentials: { username: 'ops' } } },
            }
          : {
              path: '/v3/auth/tokens',
              login: { auth: { scope: { project: { name: 'admin', domain: { name: 'Default' } } } } },
            },
      );
    },
  );

  it('logs in again when the token is about to expire, or the service refused it', async () => {
    const stack = await keystone({ expiresInMs: 30_000 }); // inside the renewal margin: never reused
    const check = runner({
      url: stack.service,
      keystone: { url: `${stack.identity}/v3`, username: 'ops', password: 'right', tenant: 'admin' },
    });
    await run(check);
    await run(check);
    expect(stack.issued).toEqual(['token-1', 'token-2']);

    const long = await keystone({ expiresInMs: 3_600_000 });
    const revoked = runner({
      url: long.service,
      keystone: { url: `${long.identity}/v3`, username: 'ops', password: 'right', tenant: 'admin' },
    });
    expect((await run(revoked)).state).toBe('ok');
    long.issued.splice(0); // the service no longer takes token-1
    expect((await run(revoked)).output).toMatch(/HTTP 401/);
    expect((await run(revoked)).state).toBe('ok');
    expect(long.logins).toHaveLength(2);
  });

  it('is UNKNOWN with what Keystone said when the login is refused; missing parameters refuse the check', async () => {
    const stack = await keystone({ expiresInMs: 3_600_000 });
    const refused = await run(
      runner({
        url: stack.service,
        keystone: { url: `${stack.identity}/v3`, username: 'ops', password: 'wrong', tenant: 'x' },
      }),
    );
    expect(refused).toMatchObject({
      state: 'unknown',
      output: `keystone login refused: HTTP 401 from ${stack.identity}/v3/auth/tokens: The request you have made requires authentication.`,
    });
    expect(() => runner({ url: stack.service, keystone: { url: 'http://k/v3', username: 'ops' } })).toThrow(
      'keystone: password, tenant missing (text)',
    );
    expect(() =>
      runner({
        url: stack.service,
        keystone: { url: 'http://k/v3', username: 'a', password: 'b', tenant: 'c', version: 4 },
      }),
    ).toThrow('keystone: version 4: 2 or 3');
  });
});

describe('http check over TLS', () => {
  let pki: TestPki;
  const pem = (name: string) => pki.pem(name);

  beforeAll(() => {
    pki = makeTestPki([
      { name: 'server', days: 30, usage: 'server' },
      { name: 'short', days: 5, usage: 'server' },
      { name: 'client', days: 30, usage: 'client' },
    ]);
  });
  afterAll(() => pki.clean());

  async function serveTls(certificate: string, requireClient = false): Promise<string> {
    const server = createTlsServer(
      {
        cert: pem(`${certificate}.pem`),
        key: pem(`${certificate}.key`),
        ...(requireClient ? { ca: pem('ca.pem'), requestCert: true, rejectUnauthorized: true } : {}),
      },
      (_request, response) => response.end('secure'),
    );
    return `https://127.0.0.1:${await listen(server)}/`;
  }

  it("trusts a given CA, reports the certificate's days left, refuses an unknown one", async () => {
    const url = await serveTls('server');
    const trusted = await run(runner({ url, ca: pem('ca.pem') }));
    expect(trusted.state).toBe('ok');
    expect(trusted.output).toMatch(/certificate valid (29\.\d|30) more days$/);
    const days = trusted.perfdata.find((datum) => datum.label === 'certificate_days')!;
    expect(days.value).toBeGreaterThan(29);
    expect(days.value).toBeLessThanOrEqual(30);
    expect(trusted.longOutput).toMatch(/tls: TLSv1\.[23], CN=server/);
    const unknown = await run(runner({ url }));
    expect(unknown.state).toBe('critical');
    expect(unknown.output).toMatch(/certificate/i);
    expect((await run(runner({ url, insecure: true }))).state).toBe('ok');
  });

  it('warns when the certificate expires within certificate_warning_days; conditions read it too', async () => {
    const url = await serveTls('short');
    const warned = await run(runner({ url, ca: pem('ca.pem') }));
    expect(warned.state).toBe('warning');
    expect(warned.output).toMatch(/the certificate expires in (4\.\d|5) days \(warning under 14\)/);
    expect((await run(runner({ url, ca: pem('ca.pem'), certificate_warning_days: 3 }))).state).toBe('ok');
    const condition = await run(
      runner({
        url,
        ca: pem('ca.pem'),
        certificate_warning_days: 0,
        conditions: ['[CERTIFICATE_EXPIRATION] > 48h'],
      }),
    );
    expect(condition.state).toBe('ok');
    const failing = await run(
      runner({
        url,
        ca: pem('ca.pem'),
        certificate_warning_days: 0,
        conditions: ['[CERTIFICATE_EXPIRATION] > 7d'],
      }),
    );
    expect(failing.output).toMatch(/condition failed: \[CERTIFICATE_EXPIRATION\] \(\d+\) > 7d$/);
  });

  it('presents a client certificate when the server asks for one', async () => {
    const url = await serveTls('server', true);
    const without = await run(runner({ url, ca: pem('ca.pem') }));
    expect(without.state).toBe('critical');
    const withCertificate = await run(
      runner({ url, ca: pem('ca.pem'), cert: pem('client.pem'), key: pem('client.key') }),
    );
    expect(withCertificate.state).toBe('ok');
  });
});
