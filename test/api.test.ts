// The HTTP API over TCP and the unix socket: info, errors as JSON, limits, authentication.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanupAll,
  httpGet,
  prepareAgentDirs,
  WITHOUT_PACKS,
  type RunningAgent,
  runCli,
  startAgent,
} from './helpers/agent-process.js';

afterAll(cleanupAll);

describe('an agent without authentication, on loopback', () => {
  let agent: RunningAgent;
  let base: string;
  let socket: string;
  /** Just before the agent process was started: its uptime cannot be longer than since then. */
  let spawnedAt: number;

  beforeAll(async () => {
    const dirs = await prepareAgentDirs(
      'node_name: api-test\ndatacenter: lab\ngroups: [web, linux]\n' + WITHOUT_PACKS,
    );
    spawnedAt = Date.now();
    agent = await startAgent(dirs);
    base = `http://127.0.0.1:${dirs.port}`;
    socket = join(dirs.dataDir, 'api.sock');
  });

  it('GET /agent/info answers the same over TCP and the unix socket', async () => {
    const tcp = await httpGet(`${base}/agent/info`);
    const unix = await httpGet(`unix:${socket}:/agent/info`);
    expect(tcp.status).toBe(200);
    expect(tcp.headers['content-type']).toBe('application/json; charset=utf-8');
    const fromTcp = JSON.parse(tcp.body) as Record<string, unknown>;
    const fromUnix = JSON.parse(unix.body) as Record<string, unknown>;
    expect(fromTcp).toMatchObject({
      name: 'api-test',
      datacenter: 'lab',
      groups: ['linux', 'web'],
      pid: agent.process.pid,
      state: 'ok',
      subsystems: { config: { status: 'ok' }, api: { status: 'ok' }, gossip: { status: 'ok' } },
      encryption: { enabled: false },
      api: { tcp: base.slice('http://'.length), socket, auth: false },
    });
    expect(fromTcp.version).toMatch(/^\d+\.\d+\.\d+/);
    // The agent's own uptime (whole seconds), not the machine's: no longer than since its spawn.
    expect(Number.isInteger(fromTcp.uptime_seconds)).toBe(true);
    expect(fromTcp.uptime_seconds).toBeGreaterThanOrEqual(0);
    expect(fromTcp.uptime_seconds).toBeLessThanOrEqual(Math.round((Date.now() - spawnedAt) / 1000));
    expect((fromTcp.memory as { rss_bytes: number }).rss_bytes).toBeGreaterThan(1_000_000);
    expect(fromUnix.id).toBe(fromTcp.id);
    expect(fromUnix.pid).toBe(fromTcp.pid);
  });

  it('keeps the unix socket private to the agent user (mode 0600)', () => {
    expect(statSync(socket).mode & 0o777).toBe(0o600);
  });

  it('GET /agent/state gives the overall and per-subsystem state', async () => {
    const reply = await httpGet(`${base}/agent/state`);
    expect(JSON.parse(reply.body)).toEqual({
      state: 'ok',
      subsystems: {
        config: { status: 'ok' },
        api: { status: 'ok' },
        gossip: { status: 'ok' },
        collectors: { status: 'ok' },
        detectors: { status: 'ok' },
        checks: { status: 'ok' },
        dns: { status: 'ok' },
        kv: { status: 'ok' },
        metrics: { status: 'ok' },
      },
    });
  });

  it('answers unknown paths with a JSON 404 and wrong methods with a 405 and Allow', async () => {
    const missing = await httpGet(`${base}/agent/nope`);
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toEqual({ error: 'no such endpoint: /agent/nope' });
    const wrong = await httpGet(`${base}/agent/info`, { method: 'DELETE' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.allow).toBe('GET');
    expect(JSON.parse(wrong.body)).toEqual({ error: 'method DELETE not allowed; use GET' });
  });

  it('refuses a body that is not JSON (400) or too large (413), without stack traces', async () => {
    // Reload is an admin route: with the local token (root may read it).
    const admin = {
      authorization: `Bearer ${readFileSync(join(agent.dirs.dataDir, 'local-token'), 'utf8').trim()}`,
    };
    const bad = await httpGet(`${base}/agent/reload`, {
      method: 'POST',
      body: '{"oops',
      headers: { 'content-type': 'application/json', ...admin },
    });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toEqual({ error: 'request body is not valid JSON' });
    // The length declared, the body not sent: the agent answers at once. (Sending the 2 MiB raced
    // the agent's close after its 413: the client's write could fail with EPIPE before it read it.)
    const big = await httpGet(`${base}/agent/reload`, {
      method: 'POST',
      headers: { ...admin, 'content-length': String(2 * 1024 * 1024) },
    });
    expect(big.status).toBe(413);
    expect(JSON.parse(big.body)).toEqual({ error: 'request body too large (limit 1048576 bytes)' });
    expect(bad.body + big.body).not.toMatch(/at .*\.js:\d+/);
    // The agent is unharmed.
    expect((await httpGet(`${base}/agent/state`)).status).toBe(200);
  });

  it('refuses browsers: a foreign Host (DNS rebinding) or a cross-site Origin', async () => {
    const rebound = await httpGet(`${base}/agent/stop`, {
      method: 'POST',
      headers: { host: 'rebind.example.com' },
    });
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body)).toEqual({
      error:
        'refused: Host "rebind.example.com" is not this machine; configure auth.tokens to serve other names',
    });
    const crossSite = await httpGet(`${base}/agent/stop`, {
      method: 'POST',
      headers: { origin: 'http://evil.example' },
    });
    expect(crossSite.status).toBe(403);
    expect(JSON.parse(crossSite.body)).toEqual({ error: 'refused: cross-origin requests need auth.tokens' });
    const host = base.slice('http://'.length);
    const sameOrigin = await httpGet(`${base}/agent/state`, { headers: { origin: `http://${host}` } });
    expect(sameOrigin.status).toBe(200);
    expect(agent.process.exitCode).toBeNull();
  });

  it('answers a malformed URL with 400, not 500', async () => {
    const reply = await httpGet(`${base}//[`);
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.body)).toEqual({ error: 'malformed request URL' });
  });

  it('lists its routes', async () => {
    const routes = JSON.parse((await httpGet(`${base}/api/routes`)).body) as Array<{
      method: string;
      path: string;
    }>;
    expect(routes.map((route) => `${route.method} ${route.path}`)).toEqual(
      expect.arrayContaining([
        'GET /agent/info',
        'GET /agent/state',
        'POST /agent/reload',
        'POST /agent/stop',
      ]),
    );
  });
});

describe('an agent with API tokens', () => {
  const token = 'correct-horse-battery-staple';
  let base: string;
  let socket: string;
  let dataDir: string;

  beforeAll(async () => {
    // With a token configured the API may bind beyond loopback; the test still only talks to 127.0.0.1.
    const dirs = await prepareAgentDirs(`auth:\n  tokens:\n    - name: ops\n      token: ${token}\n`);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dirs.configDir, 'conf.d', 'bind.yml'), 'api:\n  bind: 0.0.0.0\n');
    await startAgent(dirs);
    base = `http://127.0.0.1:${dirs.port}`;
    socket = join(dirs.dataDir, 'api.sock');
    dataDir = dirs.dataDir;
  });

  it('refuses TCP requests without a valid bearer token', async () => {
    const attempts: Array<Record<string, string>> = [
      {},
      { authorization: 'Bearer wrong-token-of-some-length' },
      { authorization: token },
    ];
    for (const headers of attempts) {
      const reply = await httpGet(`${base}/agent/info`, { headers });
      expect(reply.status).toBe(401);
      expect(reply.headers['www-authenticate']).toBe('Bearer realm="opsbro"');
      // A local caller is told where the local token is (root's CLI uses it); nothing more.
      expect(JSON.parse(reply.body)).toEqual({
        error: 'authentication required: send Authorization: Bearer <token>',
        token_required: true,
        data_dir: dataDir,
      });
    }
  });

  it('accepts the token, and the unix socket without one', async () => {
    const withToken = await httpGet(`${base}/agent/info`, { headers: { authorization: `Bearer ${token}` } });
    expect(withToken.status).toBe(200);
    expect(JSON.parse(withToken.body)).toMatchObject({ api: { auth: true } });
    expect((await httpGet(`unix:${socket}:/agent/info`)).status).toBe(200);
  });

  it('the CLI sends OPSBRO_TOKEN and explains a 401', () => {
    const ok = runCli(['agent', 'info', '--json'], { OPSBRO_API: base, OPSBRO_TOKEN: token });
    expect(ok.code).toBe(0);
    // A token given is the one used: the CLI does not fall back to the local token behind it.
    const refused = runCli(['agent', 'info', '--api', base], { OPSBRO_TOKEN: 'not-the-token-at-all' });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      'opsbro: authentication required: send Authorization: Bearer <token> (set OPSBRO_TOKEN or pass --token)\n',
    );
  });
});
