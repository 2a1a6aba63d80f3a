// The local trust boundary (issue 10): a local user who is not the agent's user reads the read-only
// routes and nothing else; root's CLI reaches the admin routes with no setup, through the local
// token, which it hands only to an agent that proves it holds it.
import { spawn, spawnSync } from 'node:child_process';
import { localTokenProof } from '../../agent/shared/local-token-proof.js';
import { AgentClient } from '../../cli/client.js';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import {
  createServer,
  request,
  type IncomingHttpHeaders,
  type RequestListener,
  type Server,
} from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanupAll,
  httpGet,
  OPSBRO_BIN,
  prepareAgentDirs,
  runCli,
  type RunningAgent,
  startAgent,
  tempDir,
  WITHOUT_PACKS,
} from '../helpers/agent-process.js';
import { IN_CI } from '../helpers/requirements.js';

afterAll(cleanupAll);

const isRoot = process.getuid?.() === 0;
/** Dropping to nobody needs root; CI runs as root, so there the tests always run (and fail without). */
const asRoot = isRoot || IN_CI ? it : it.skip;
if (!isRoot && !IN_CI) console.warn('skipped: the tests as nobody: they need root (setpriv drops to nobody)');

/** Runs a command as nobody:nogroup, with no supplementary groups. */
function asNobody(command: string, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(
    'setpriv',
    ['--reuid=nobody', '--regid=nogroup', '--clear-groups', command, ...args],
    {
      encoding: 'utf8',
      timeout: 20_000,
      env: { PATH: process.env.PATH, NO_COLOR: '1' },
    },
  );
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** curl as nobody: the HTTP status and body. */
function curlAsNobody(url: string, body?: string): { status: number; body: string } {
  const args = ['-s', '-w', '\n%{http_code}', url];
  if (body !== undefined) args.push('-X', 'POST', '-H', 'Content-Type: application/json', '-d', body);
  const result = asNobody('curl', args);
  const lines = result.stdout.split('\n');
  return { status: Number(lines.pop()), body: lines.join('\n') };
}

describe('a default agent (no auth.tokens) seen by another local user', () => {
  let agent: RunningAgent;
  let base: string;

  beforeAll(async () => {
    const dirs = await prepareAgentDirs('node_name: trust-test\n' + WITHOUT_PACKS);
    // A pack parameter that is a secret: the packs route is read-only, so anyone may call it.
    writeFileSync(
      join(dirs.configDir, 'conf.d', 'redis.yml'),
      'packs:\n  redis:\n    enabled: false\n    parameters: {password: "s3cret-redis-pass"}\n',
    );
    agent = await startAgent(dirs);
    base = `http://127.0.0.1:${dirs.port}`;
  });

  asRoot('cannot read the local token, shadow or the environment through the evaluator (403)', () => {
    const expressions = [
      `parse_json_file("${join(agent.dirs.dataDir, 'local-token')}", "primary")`,
      "grep_file('^root:', '/etc/shadow', True)",
      "get_env('PATH')",
      "grep('PATH', '/proc/self/environ')",
    ];
    for (const expression of expressions) {
      const reply = curlAsNobody(`${base}/agent/evaluator/eval`, JSON.stringify({ expression }));
      expect(reply.status).toBe(403);
      const body = JSON.parse(reply.body) as { error: string; value?: unknown };
      expect(body.error).toMatch(/^refused: POST \/agent\/evaluator\/eval needs the admin role/);
      expect(body.value).toBeUndefined();
    }
  });

  asRoot('cannot rotate keys, leave, join, detect, reload or stop the agent (403)', () => {
    const writes: Array<[string, string]> = [
      ['/gossip/keys', JSON.stringify({ op: 'install', key: Buffer.alloc(32, 7).toString('base64') })],
      ['/agent/leave', ''],
      ['/agent/join', JSON.stringify({ addresses: ['127.0.0.1:9'] })],
      ['/agent/detect', '{}'],
      ['/agent/reload', ''],
      ['/agent/stop', ''],
    ];
    for (const [path, body] of writes) {
      const reply = curlAsNobody(`${base}${path}`, body);
      expect(reply.status, path).toBe(403);
      expect(JSON.parse(reply.body)).toMatchObject({ token_required: true, data_dir: agent.dirs.dataDir });
    }
    expect(agent.process.exitCode).toBeNull();
    const keys = JSON.parse(runCli(['gossip', 'keys', 'list', '--json', '--api', base]).stdout) as {
      keys: unknown[];
    };
    expect(keys.keys).toEqual([]);
  });

  asRoot('reads the read-only routes, with secrets hidden', () => {
    for (const path of [
      '/agent/info',
      '/agent/state',
      '/agent/members',
      '/agent/collectors',
      '/agent/detectors',
      '/agent/packs',
      '/agent/evaluator/functions',
      '/gossip/keys',
      '/gossip/stats',
      '/api/routes',
    ]) {
      expect(curlAsNobody(`${base}${path}`).status, path).toBe(200);
    }
    const redis = curlAsNobody(`${base}/agent/packs/redis`);
    expect(redis.body).not.toContain('s3cret-redis-pass');
    expect(JSON.parse(redis.body)).toMatchObject({ parameters: { password: '<hidden>' } });
  });

  asRoot('cannot read the local token, and the CLI says what to do', () => {
    const token = join(agent.dirs.dataDir, 'local-token');
    expect(statSync(token).mode & 0o777).toBe(0o600);
    expect(asNobody('cat', [token]).code).not.toBe(0);
    const cli = asNobody(process.execPath, [OPSBRO_BIN, 'agent', 'reload', '--api', base]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(
      /needs the admin role.*\(run the command as the agent's user, e\.g\. with sudo, or pass --token\)\n$/,
    );
  });

  it("root's CLI reaches the admin routes with no setup (the local token)", () => {
    const evaluated = runCli(['evaluator', 'eval', '6*7', '--api', base]);
    expect(evaluated.stderr).toBe('');
    expect(evaluated.stdout).toBe('42\n');
    expect(runCli(['agent', 'reload', '--api', base]).code).toBe(0);
  });

  it('every route says who may call it; the admin ones are the ones that change or reveal', async () => {
    const routes = JSON.parse((await httpGet(`${base}/api/routes`)).body) as Array<{
      method: string;
      path: string;
      access: string;
    }>;
    const admin = routes.filter((route) => route.access === 'admin').map((r) => `${r.method} ${r.path}`);
    expect(admin.sort()).toEqual(
      [
        'POST /agent/detect',
        'POST /agent/evaluator/eval',
        'POST /agent/join',
        'POST /agent/leave',
        'POST /agent/reload',
        'POST /agent/stop',
        'POST /gossip/keys',
        'POST /monitoring/checks/:name/run',
        // Switching a check on or off everywhere, and a run now (docs/checks.md, Targets).
        'POST /monitoring/targets/:name/enable',
        'POST /monitoring/targets/:name/disable',
        'POST /monitoring/targets/:name/test',
        // megaphone's runtime registry (docs/checks-services.md).
        'POST /checks',
        'DELETE /checks/:id',
        'POST /status/override',
        'DELETE /status/override',
        // KV writes (docs/kv.md): both dialects.
        'PUT /kv/:key*',
        'DELETE /kv/:key*',
        'PUT /v1/kv/:key*',
        'DELETE /v1/kv/:key*',
        'DELETE /v1/kv',
      ].sort(),
    );
    // Every other route reads; only the local-token proof is public.
    expect(routes.filter((route) => route.access === 'public').map((r) => r.path)).toEqual([
      '/agent/auth/proof',
    ]);
    expect(routes.every((route) => ['public', 'read', 'admin'].includes(route.access))).toBe(true);
  });
});

/** The CLI as root, without blocking this process: the fake servers below live in it. */
function runCliAsync(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [OPSBRO_BIN, ...args], {
    env: { ...process.env, NO_COLOR: '1', OPSBRO_API: '', OPSBRO_TOKEN: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

const servers: Server[] = [];
afterAll(() => servers.forEach((server) => server.close()));

describe('the local token', () => {
  /** An HTTP server on 127.0.0.1 that records the Authorization headers it receives. */
  async function listen(handler: RequestListener): Promise<number> {
    const server = createServer(handler);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }

  it('is not handed to a relay on another port, although the relay forwards to the real agent', async () => {
    const dirs = await prepareAgentDirs(WITHOUT_PACKS);
    await startAgent(dirs);
    const seen: IncomingHttpHeaders[] = [];
    // Forwards everything to the real agent, as a process squatting a port could.
    const relayPort = await listen((req, res) => {
      seen.push(req.headers);
      const upstream = request(
        {
          host: '127.0.0.1',
          port: dirs.port,
          path: req.url,
          method: req.method,
          headers: { ...req.headers, host: `127.0.0.1:${dirs.port}` },
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      req.pipe(upstream);
    });
    const result = await runCliAsync(['agent', 'reload', '--api', `http://127.0.0.1:${relayPort}`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/needs the admin role/);
    const token = readFileSync(join(dirs.dataDir, 'local-token'), 'utf8').trim();
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.some((headers) => headers.authorization?.includes(token))).toBe(false);
    // Straight to the agent, the same command works.
    expect(runCli(['agent', 'reload', '--api', `http://127.0.0.1:${dirs.port}`]).code).toBe(0);
  });

  it('is not handed to a squatter that names the real data dir but cannot prove it holds the token', async () => {
    const dirs = await prepareAgentDirs(WITHOUT_PACKS);
    await startAgent(dirs);
    const seen: IncomingHttpHeaders[] = [];
    const squatter = await listen((req, res) => {
      seen.push(req.headers);
      req.resume();
      const body =
        req.url === '/agent/auth/proof'
          ? { proof: 'f'.repeat(64) }
          : { error: 'refused', token_required: true, data_dir: dirs.dataDir };
      res.writeHead(req.url === '/agent/auth/proof' ? 200 : 403, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
    const result = await runCliAsync(['agent', 'reload', '--api', `http://127.0.0.1:${squatter}`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      "opsbro: refused (run the command as the agent's user, e.g. with sudo, or pass --token)\n",
    );
    // It asked for a proof, got a wrong one, and sent no token.
    expect(seen).toHaveLength(2);
    expect(seen.some((headers) => headers.authorization !== undefined)).toBe(false);
  });

  it('is made anew at every start, 0600 whatever it was', async () => {
    const dirs = await prepareAgentDirs(WITHOUT_PACKS);
    const first = await startAgent(dirs);
    const path = join(dirs.dataDir, 'local-token');
    const before = readFileSync(path, 'utf8');
    first.process.kill('SIGTERM');
    await first.exited;
    chmodSync(path, 0o644);
    await startAgent(dirs);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).not.toBe(before);
  });

  it('goes with the one refused request only: the next request (to whoever holds the port then) has none', async () => {
    // An agent of our own making that holds a token and proves it: the CLI's client sends the token
    // once, for the admin request; then `agent stop`'s polling, say, must not carry it (the port may
    // have changed hands by then, and a squatter would collect it).
    const dataDir = tempDir();
    chmodSync(dataDir, 0o700);
    const token = 'T'.repeat(43);
    writeFileSync(join(dataDir, 'local-token'), `${token}\n`, { mode: 0o600 });
    const seen: Array<{ url?: string; authorization?: string }> = [];
    const port = await listen((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        seen.push({ url: req.url, authorization: req.headers.authorization });
        const reachedAt = `${req.socket.localAddress ?? ''}:${req.socket.localPort ?? 0}`;
        const answer = (status: number, value: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(value));
        };
        if (req.url === '/agent/auth/proof') {
          const { nonce } = JSON.parse(body) as { nonce: string };
          return answer(200, { proof: localTokenProof(token, nonce, reachedAt) });
        }
        if (req.url === '/agent/reload' && req.headers.authorization !== `Bearer ${token}`)
          return answer(403, { error: 'refused', token_required: true, data_dir: dataDir });
        answer(200, { ok: true });
      });
    });
    const client = new AgentClient({ api: `http://127.0.0.1:${port}` });
    await client.post('/agent/reload');
    await client.get('/agent/state');
    expect(seen.map((request) => [request.url, request.authorization !== undefined])).toEqual([
      ['/agent/reload', false],
      ['/agent/auth/proof', false],
      ['/agent/reload', true],
      ['/agent/state', false],
    ]);
  });
});

describe('root without --api', () => {
  it('uses the unix socket of the agent in $OPSBRO_DATA_DIR: every route, whatever holds the TCP port', async () => {
    const dirs = await prepareAgentDirs(WITHOUT_PACKS);
    await startAgent(dirs);
    // A local user holds every TCP connection the API takes (512), and more.
    const held = await Promise.all(
      Array.from(
        { length: 520 },
        () =>
          new Promise<Socket>((resolve) => {
            const socket = connect({ host: '127.0.0.1', port: dirs.port }, () => resolve(socket));
            socket.on('error', () => resolve(socket));
          }),
      ),
    );
    try {
      const result = await runCliAsync(['evaluator', 'eval', '6*7'], { OPSBRO_DATA_DIR: dirs.dataDir });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toBe('42\n');
    } finally {
      held.forEach((socket) => socket.destroy());
    }
  });

  it('does not use a socket in a data dir others may write to', async () => {
    const dirs = await prepareAgentDirs(WITHOUT_PACKS);
    await startAgent(dirs);
    // Refused by the agent too (mode 0777 is a tamper risk); here the CLI must not trust it either.
    chmodSync(dirs.dataDir, 0o777);
    try {
      const result = await runCliAsync(['agent', 'info', '--json'], {
        OPSBRO_DATA_DIR: dirs.dataDir,
        OPSBRO_API: '',
      });
      // Fell back to the TCP default, where no agent of this test listens (--json: the error too).
      expect(result.stderr).toBe('');
      expect((JSON.parse(result.stdout) as { error: string }).error).toContain(
        'cannot reach the agent at http://127.0.0.1:6768',
      );
    } finally {
      chmodSync(dirs.dataDir, 0o700);
    }
  });
});

describe('tokens with a role', () => {
  const admin = 'admin-token-of-enough-length';
  const reader = 'read-token-of-enough-length';
  let base: string;

  beforeAll(async () => {
    const dirs = await prepareAgentDirs(
      `auth:\n  tokens:\n    - {name: ops, token: ${admin}}\n    - {name: dash, token: ${reader}, role: read}\n` +
        WITHOUT_PACKS,
    );
    await startAgent(dirs);
    base = `http://127.0.0.1:${dirs.port}`;
  });

  it('a read token reads but cannot change; an admin token can', async () => {
    const asReader = { authorization: `Bearer ${reader}` };
    expect((await httpGet(`${base}/agent/info`, { headers: asReader })).status).toBe(200);
    const refused = await httpGet(`${base}/agent/reload`, { method: 'POST', headers: asReader });
    expect(refused.status).toBe(403);
    expect((JSON.parse(refused.body) as { error: string }).error).toMatch(
      /the caller is token:dash, role read$/,
    );
    const done = await httpGet(`${base}/agent/reload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(done.status).toBe(200);
  });

  it('without a token, even on loopback, nothing but the proof answers (401)', async () => {
    expect((await httpGet(`${base}/agent/state`)).status).toBe(401);
    const proof = await httpGet(`${base}/agent/auth/proof`, {
      method: 'POST',
      body: JSON.stringify({ nonce: 'a'.repeat(32) }),
    });
    expect(proof.status).toBe(200);
  });

  it("root's CLI still works through the local token, and reports the 401 to others", () => {
    expect(runCli(['agent', 'reload', '--api', base]).code).toBe(0);
    expect(runCli(['agent', 'info', '--json', '--api', base]).code).toBe(0);
  });
});

describe('the local token proof', () => {
  it('binds the address reached: the same nonce on two addresses gives two proofs', async () => {
    const { localTokenProof } = await import('../../agent/shared/local-token-proof.js');
    const a = localTokenProof('t'.repeat(43), 'ab'.repeat(16), '127.0.0.1:6768');
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(localTokenProof('t'.repeat(43), 'ab'.repeat(16), '127.0.0.1:6769')).not.toBe(a);
    expect(localTokenProof('t'.repeat(43), 'ab'.repeat(16), '127.0.0.2:6768')).not.toBe(a);
    expect(localTokenProof('u'.repeat(43), 'ab'.repeat(16), '127.0.0.1:6768')).not.toBe(a);
  });

  it('a route without a declared access is refused at registration', async () => {
    const { Router } = await import('../../agent/api/router.js');
    const router = new Router();
    expect(() =>
      router.add([
        // Untyped code (a plugin) can still forget it: the router refuses.
        { method: 'GET', path: '/x', description: 'x', handler: () => 1 } as unknown as Parameters<
          typeof router.add
        >[0][number],
      ]),
    ).toThrow('route GET /x declares no access (public, read or admin)');
  });
});
