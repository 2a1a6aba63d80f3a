// The agent as operators run it: refusing bad config, one agent per data dir, a stale lock after
// SIGKILL, graceful stop, reload, daemon mode. Real processes, real sockets.
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { spawn } from 'node:child_process';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cleanupAll,
  freePort,
  httpGet,
  isAlive,
  OPSBRO_BIN,
  prepareAgentDirs,
  WITHOUT_PACKS,
  runCli,
  startAgent,
  type TestAgentDirs,
} from './helpers/agent-process.js';

afterEach(cleanupAll);

const start = (dirs: TestAgentDirs, extra: string[] = []) =>
  runCli(['agent', 'start', '--config-dir', dirs.configDir, '--data-dir', dirs.dataDir, ...extra]);

/** /agent/info over TCP once startAgent() learnt the port, else over the unix socket (a daemon). */
async function info(dirs: TestAgentDirs): Promise<Record<string, unknown>> {
  const api = dirs.port ? `http://127.0.0.1:${dirs.port}` : `unix:${join(dirs.dataDir, 'api.sock')}:`;
  const reply = await httpGet(`${api}/agent/info`);
  expect(reply.status).toBe(200);
  return JSON.parse(reply.body) as Record<string, unknown>;
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

describe('start refuses a bad configuration with one line and starts nothing', () => {
  it.each([
    [
      'a wrong type',
      'log:\n  level: 3\n',
      (file: string) => `${file}:2: log.level: expected one of debug, info, warn, error, got number 3`,
    ],
    [
      'a YAML error',
      'groups: [a\n  b: c\n',
      (file: string) => new RegExp(`^${file}:\\d+: YAML syntax error: `),
    ],
    [
      'an unset variable',
      'node_name: ${OPSBRO_TEST_UNSET_VAR}\n',
      (file: string) =>
        `${file}:1: environment variable OPSBRO_TEST_UNSET_VAR is not set (use \${OPSBRO_TEST_UNSET_VAR:-default} for a default)`,
    ],
  ])('%s', async (_what, yaml, expected) => {
    // A port named in advance: that nothing listens on it afterwards says something.
    const dirs = await prepareAgentDirs(yaml, { apiPort: await freePort() });
    const result = start(dirs);
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    const message = lines[0]!.replace(/^opsbro: config error: /, '');
    const want = expected(join(dirs.configDir, 'agent.yml'));
    if (typeof want === 'string') expect(message).toBe(want);
    else expect(message).toMatch(want);
    expect(result.stdout).toBe('');
    expect(existsSync(dirs.dataDir)).toBe(false);
    expect(await portIsFree(dirs.port)).toBe(true);
  });

  it('hostile files: an alias bomb, an env value with a line break, 54 MB: one line each, no stack trace', async () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x]',
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
      '',
    ].join('\n');
    const cases: Array<{
      yaml: string;
      env?: Record<string, string>;
      big?: boolean;
      line: (file: string) => string;
    }> = [
      {
        yaml: bomb,
        line: (file) =>
          `${file}:2: YAML aliases expand too much (more than 100 copies of aliased nodes): write the values out, or alias less`,
      },
      {
        yaml: 'node_name: ${OPSBRO_TEST_NAME}\n',
        env: { OPSBRO_TEST_NAME: 'web\nsecond-line' },
        line: (file) =>
          `${file}:1: environment variable OPSBRO_TEST_NAME holds a line break or another control character: values from the environment must be one line`,
      },
      { yaml: '', big: true, line: (file) => `${file}: too large (54000000 bytes, limit 4 MiB)` },
    ];
    for (const { yaml, env, big, line } of cases) {
      const dirs = await prepareAgentDirs(yaml);
      const file = join(dirs.configDir, 'conf.d', 'big.yml');
      if (big) {
        writeFileSync(file, Buffer.alloc(0));
        truncateSync(file, 54_000_000);
      }
      const result = runCli(
        ['agent', 'start', '--config-dir', dirs.configDir, '--data-dir', dirs.dataDir],
        env,
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `opsbro: config error: ${line(big ? file : join(dirs.configDir, 'agent.yml'))}\n`,
      );
      expect(existsSync(dirs.dataDir)).toBe(false);
    }
  });

  it('an unreadable conf.d file', async () => {
    const dirs = await prepareAgentDirs();
    const confFile = join(dirs.configDir, 'conf.d', 'broken.yml');
    writeFileSync(confFile, 'groups: [x]\n');
    // Root reads any file whatever its mode, so make it unreadable by making it a dangling link.
    const { rmSync, symlinkSync } = await import('node:fs');
    rmSync(confFile);
    symlinkSync(join(dirs.root, 'nowhere.yml'), confFile);
    const result = start(dirs);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `opsbro: config error: ${confFile}: cannot read file (ENOENT: no such file)\n`,
    );
    expect(existsSync(dirs.dataDir)).toBe(false);
  });

  it('an API bound beyond loopback without authentication', async () => {
    const dirs = await prepareAgentDirs();
    writeFileSync(join(dirs.configDir, 'conf.d', 'api.yml'), 'api:\n  bind: 0.0.0.0\n');
    const result = start(dirs);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `opsbro: config error: ${join(dirs.configDir, 'conf.d', 'api.yml')}:2: api.bind: ` +
        'the HTTP API would listen on 0.0.0.0, beyond loopback, without authentication: ' +
        'add a token under auth.tokens (name and a secret of 16+ characters) or bind to 127.0.0.1\n',
    );
  });

  it('a listener that fails halfway: nothing keeps running', async () => {
    const dirs = await prepareAgentDirs('', { apiPort: await freePort() });
    // The API's unix socket path is taken by a directory: TCP binds first, then the socket fails.
    mkdirSync(join(dirs.dataDir, 'api.sock'), { recursive: true, mode: 0o700 });
    chmodSync(dirs.dataDir, 0o700);
    const result = start(dirs);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('opsbro: ');
    expect(await portIsFree(dirs.port)).toBe(true);
    expect(existsSync(join(dirs.dataDir, 'opsbro.pid'))).toBe(false);
  });

  it('a port already in use: clear error, exit 1, lock released', async () => {
    // The port is held first (any free one), then the agent is told to use it.
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const dirs = await prepareAgentDirs('', { apiPort: (blocker.address() as AddressInfo).port });
    try {
      const result = start(dirs);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        `cannot listen for the API on 127.0.0.1:${dirs.port}: EADDRINUSE (address in use`,
      );
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
    const agent = await startAgent(dirs);
    expect(isAlive(agent.process.pid!)).toBe(true);
  });
});

describe('data dir', () => {
  it('keeps the node id across restarts and refuses a second agent on the same data dir', async () => {
    const dirs = await prepareAgentDirs();
    const first = await startAgent(dirs);
    const { id } = await info(dirs);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(readFileSync(join(dirs.dataDir, 'node-id'), 'utf8').trim()).toBe(id);
    expect(readFileSync(join(dirs.dataDir, 'opsbro.pid'), 'utf8').trim()).toBe(String(first.process.pid));
    expect(statSync(dirs.dataDir).mode & 0o777).toBe(0o700);

    const second = start(dirs);
    expect(second.code).toBe(1);
    expect(second.stderr).toBe(
      `opsbro: data dir ${dirs.dataDir} is in use by another running agent (pid ${first.process.pid}); ` +
        'stop it first (`opsbro agent stop`) or give this agent its own --data-dir\n',
    );
    expect(isAlive(first.process.pid!)).toBe(true);

    first.process.kill('SIGTERM');
    await first.exited;
    await startAgent(dirs);
    expect((await info(dirs)).id).toBe(id);
  });

  it('refuses a data dir other users can write to, or that belongs to another user', async () => {
    const dirs = await prepareAgentDirs();
    mkdirSync(dirs.dataDir, { mode: 0o700 });
    chmodSync(dirs.dataDir, 0o1777);
    const open = start(dirs);
    expect(open.code).toBe(1);
    expect(open.stderr).toBe(
      `opsbro: refusing data dir ${dirs.dataDir}: other users can write to it (mode 1777); run chmod 700 ${dirs.dataDir}\n`,
    );
    expect(existsSync(join(dirs.dataDir, 'opsbro.pid'))).toBe(false);
    chmodSync(dirs.dataDir, 0o700);
    chownSync(dirs.dataDir, 65534, 65534);
    const foreign = start(dirs);
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toContain(
      `refusing data dir ${dirs.dataDir}: it belongs to uid 65534, not to the agent's user`,
    );
  });

  it('is not blocked by the lock of an agent killed with SIGKILL', async () => {
    const dirs = await prepareAgentDirs();
    const killed = await startAgent(dirs);
    killed.process.kill('SIGKILL');
    await killed.exited;
    // The crash left its pidfile and socket behind.
    expect(readFileSync(join(dirs.dataDir, 'opsbro.pid'), 'utf8').trim()).toBe(String(killed.process.pid));
    expect(existsSync(join(dirs.dataDir, 'api.sock'))).toBe(true);

    const restarted = await startAgent(dirs);
    expect((await info(dirs)).pid).toBe(restarted.process.pid);
    expect(restarted.output()).toMatch(new RegExp(`did not stop cleanly pid=${killed.process.pid}`));
    const socketReply = await httpGet(`unix:${join(dirs.dataDir, 'api.sock')}:/agent/state`);
    expect(socketReply.status).toBe(200);
  });
});

describe('graceful stop', () => {
  it('an uncaught exception is logged, the agent stops and exits 1, and no line is lost on the way out', async () => {
    const dirs = await prepareAgentDirs();
    // A bug on demand: the preload throws from the event loop when the test sends SIGUSR2.
    const preload = join(dirs.root, 'crash-on-usr2.mjs');
    writeFileSync(
      preload,
      "process.on('SIGUSR2', () => setImmediate(() => { throw new Error('crash for the test'); }));\n",
    );
    const agent = await startAgent(dirs, [], { NODE_OPTIONS: `--import ${pathToFileURL(preload).href}` });
    agent.process.kill('SIGUSR2');
    const { code } = await agent.exited;
    expect(code).toBe(1);
    const output = agent.output();
    expect(output).toMatch(/ ERROR uncaught exception, stopping error="Error: crash for the test/);
    expect(output).toContain('agent stopping reason="uncaught exception"');
    // Logged just before process.exit(1): only the exit path's flush writes it.
    expect(output.trimEnd().split('\n').at(-1)).toMatch(/ INFO {2}agent stopped uptime_seconds=\d+$/);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)(
    '%s stops within 5 s, exit 0, pidfile and socket removed',
    async (signal) => {
      const dirs = await prepareAgentDirs();
      const agent = await startAgent(dirs);
      const sentAt = Date.now();
      agent.process.kill(signal);
      const { code } = await agent.exited;
      expect(Date.now() - sentAt).toBeLessThan(5000);
      expect(code).toBe(0);
      expect(agent.output()).toContain(`agent stopping reason="signal ${signal}"`);
      expect(agent.output()).toContain('agent stopped');
      expect(existsSync(join(dirs.dataDir, 'opsbro.pid'))).toBe(false);
      expect(existsSync(join(dirs.dataDir, 'api.sock'))).toBe(false);
      expect(await portIsFree(dirs.port)).toBe(true);
    },
  );

  it('a SIGTERM during start still stops cleanly (exit 0, nothing left behind)', async () => {
    const dirs = await prepareAgentDirs();
    const child = spawn(
      process.execPath,
      [OPSBRO_BIN, 'agent', 'start', '--config-dir', dirs.configDir, '--data-dir', dirs.dataDir],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // The API is up before gossip: signal right then, while later subsystems are still starting.
    const apiPort = await new Promise<number>((resolve) =>
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const listening = /API listening .*address=127\.0\.0\.1:(\d+)/.exec(output);
        if (listening) resolve(Number(listening[1]));
      }),
    );
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(existsSync(join(dirs.dataDir, 'opsbro.pid'))).toBe(false);
    expect(await portIsFree(apiPort)).toBe(true);
  });

  it('`opsbro agent stop` stops it and waits until it is gone', async () => {
    const dirs = await prepareAgentDirs();
    const agent = await startAgent(dirs);
    const result = runCli(['agent', 'stop', '--api', `http://127.0.0.1:${dirs.port}`, '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ stopped: true, pid: agent.process.pid });
    expect((await agent.exited).code).toBe(0);
  });
});

describe('reload', () => {
  it('SIGHUP applies new groups and log level without a restart', async () => {
    const dirs = await prepareAgentDirs('groups: [web]\n' + WITHOUT_PACKS);
    const agent = await startAgent(dirs);
    expect((await info(dirs)).groups).toEqual(['web']);
    writeFileSync(join(dirs.configDir, 'conf.d', 'groups.yml'), 'groups: [web, db]\nlog:\n  level: debug\n');
    agent.process.kill('SIGHUP');
    await expect.poll(async () => (await info(dirs)).groups).toEqual(['db', 'web']);
    expect(agent.output()).toContain('configuration reloaded');
    expect((await info(dirs)).pid).toBe(agent.process.pid);
  });

  it('a bad reload keeps the running configuration and says why', async () => {
    const dirs = await prepareAgentDirs('groups: [web]\n' + WITHOUT_PACKS);
    const agent = await startAgent(dirs);
    const broken = join(dirs.configDir, 'conf.d', 'broken.yml');
    writeFileSync(broken, 'groups: [db\n');
    const api = ['--api', `http://127.0.0.1:${dirs.port}`];
    const result = runCli(['agent', 'reload', ...api]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(
        `^opsbro: reload refused, the running configuration is kept: ${broken}:\\d+: YAML syntax error`,
      ),
    );

    // Refused over the API: the agent's log says so too.
    await expect.poll(() => agent.output()).toContain('reload refused, the running configuration is kept');
    agent.process.kill('SIGHUP');
    await expect.poll(() => agent.output().split('reload refused').length).toBe(3);
    expect((await info(dirs)).groups).toEqual(['web']);

    writeFileSync(broken, 'api:\n  port: 1\ngroups: [db]\n');
    const fixed = runCli(['agent', 'reload', ...api, '--json']);
    expect(fixed.code).toBe(0);
    expect(JSON.parse(fixed.stdout)).toMatchObject({ reloaded: true, restart_required: ['api.port'] });
    const after = await info(dirs);
    expect(after.groups).toEqual(['db']);
    // The port change needs a restart: the agent still answers on the old one.
    expect((after.api as { tcp: string }).tcp).toBe(`127.0.0.1:${dirs.port}`);
  });
});

describe('definitions that no subsystem handles', () => {
  const webDetector = 'detector:\n  name: web\n  apply_if: "True"\n  groups: [web]\n';

  it('a misspelt kind or an unbuilt one refuses the start, naming file, line and key', async () => {
    const dirs = await prepareAgentDirs(WITHOUT_PACKS);
    const file = join(dirs.configDir, 'conf.d', 'web.yml');
    writeFileSync(file, '# web servers\n' + webDetector.replace('detector:', 'detectr:'));
    const typo = start(dirs);
    expect(typo.code).toBe(1);
    expect(typo.stderr.trim().split('\n')).toEqual([
      `opsbro: config error: ${file}:2: detectr: unknown definition kind: did you mean detector?`,
    ]);
    writeFileSync(file, 'handler:\n  type: mail\n');
    const unbuilt = start(dirs);
    expect(unbuilt.code).toBe(1);
    expect(unbuilt.stderr.trim().split('\n')).toEqual([
      `opsbro: config error: ${file}:1: handler: no subsystem of this build handles handler: definitions (the handlers (notifications) are not built yet)`,
    ]);
    expect(existsSync(dirs.dataDir)).toBe(false);
  });

  it('a reload with a misspelt kind is refused (422, exit 1) and the running detector kept', async () => {
    const dirs = await prepareAgentDirs(WITHOUT_PACKS);
    const file = join(dirs.configDir, 'conf.d', 'web.yml');
    writeFileSync(file, webDetector);
    const agent = await startAgent(dirs);
    await expect.poll(async () => (await info(dirs)).groups).toEqual(['web']);

    writeFileSync(file, webDetector.replace('detector:', 'detectr:'));
    const expected = `reload refused, the running configuration is kept: ${file}:1: detectr: unknown definition kind: did you mean detector?`;
    const api = ['--api', `http://127.0.0.1:${dirs.port}`];
    const result = runCli(['agent', 'reload', ...api]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(`opsbro: ${expected}`);
    const token = readFileSync(join(dirs.dataDir, 'local-token'), 'utf8').trim();
    const reply = await httpGet(`http://127.0.0.1:${dirs.port}/agent/reload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(reply.status).toBe(422);
    expect(JSON.parse(reply.body)).toEqual({ error: expected });

    const after = await info(dirs);
    expect(after.groups).toEqual(['web']);
    expect((after.config as { definitions: number }).definitions).toBe(1);
    expect(agent.output()).not.toContain('configuration reloaded');
  });
});

describe('daemon mode', () => {
  it('detaches, logs to a file in the data dir, and stops on request', async () => {
    const dirs = await prepareAgentDirs();
    const result = start(dirs, ['--daemon']);
    expect(result.code).toBe(0);
    const pid = Number(/pid (\d+)/.exec(result.stdout)?.[1]);
    try {
      expect(readFileSync(join(dirs.dataDir, 'opsbro.pid'), 'utf8').trim()).toBe(String(pid));
      expect((await info(dirs)).pid).toBe(pid);
      expect(readFileSync(join(dirs.dataDir, 'logs', 'opsbro.log'), 'utf8')).toContain('agent started');

      const again = start(dirs, ['--daemon']);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain(`is in use by another running agent (pid ${pid})`);

      const stop = runCli(['agent', 'stop', '--api', `unix:${join(dirs.dataDir, 'api.sock')}`]);
      expect(stop.code).toBe(0);
      expect(stop.stdout).toBe(`agent stopped (pid ${pid})\n`);
      expect(isAlive(pid)).toBe(false);
    } finally {
      if (pid && isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});

describe('the test helpers', () => {
  it('start the agent again on another RPC port when the one chosen in advance was taken meanwhile', async () => {
    const dirs = await prepareAgentDirs();
    const chosen = dirs.chosenRpcPort!;
    // Another process takes the port between freePort() and the agent's start.
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(chosen, '127.0.0.1', resolve));
    try {
      const agent = await startAgent(dirs);
      expect(isAlive(agent.process.pid!)).toBe(true);
      expect(dirs.chosenRpcPort).not.toBe(chosen);
      // The API, gossip and DNS took whatever was free (port 0), and the agent says where.
      const { ports } = (await info(dirs)) as { ports: Record<string, number> };
      expect(Object.keys(ports).sort()).toEqual(['api', 'dns', 'gossip', 'graphite', 'rpc', 'statsd']);
      expect(ports.dns).toBeGreaterThan(0);
      expect(ports.statsd).toBeGreaterThan(0);
      expect(ports.graphite).toBeGreaterThan(0);
      expect([ports.api, ports.rpc]).toEqual([dirs.port, dirs.chosenRpcPort]);
      expect(ports.api).toBeGreaterThan(0);
      expect(ports.gossip).toBeGreaterThan(0);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });
});
