// --json on every command: each command of the real tree is run with it against a real agent, and
// what it prints must parse, errors included, with nothing on stderr.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../cli/program.js';
import {
  cleanupAll,
  isAlive,
  prepareAgentDirs,
  runCli,
  startAgent,
  tempDir,
  WITHOUT_PACKS,
  type RunResult,
} from '../helpers/agent-process.js';

afterAll(cleanupAll);

/** Every command that runs something (not a group), as the words that name it. */
function leaves(command: Command, prefix: string[] = []): string[] {
  if (!command.commands.length) return [prefix.join(' ')];
  return command.commands.flatMap((sub) => leaves(sub, [...prefix, sub.name()]));
}

/** Runs the command with --json: stdout must be one JSON value, stderr empty. */
function json(args: string[], expectedCode = 0): Record<string, unknown> {
  const result: RunResult = runCli([...args, '--json']);
  expect(result.stderr, args.join(' ')).toBe('');
  expect(result.code, `${args.join(' ')}: ${result.stdout}`).toBe(expectedCode);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

describe('--json', () => {
  let api: string;
  let keyFile: string;
  beforeAll(async () => {
    const key = runCli(['agent', 'keygen']).stdout.trim();
    const dirs = await prepareAgentDirs(`node_name: json-test\nencryption_key: "${key}"\n${WITHOUT_PACKS}`);
    writeFileSync(
      join(dirs.configDir, 'conf.d', 'defs.yml'),
      '- collector: {name: memory, type: memory, interval: 60s}\n- detector: {name: os-linux, apply_if: "system_get_os() == \'linux\'", groups: [linux]}\n' +
        '- check: {name: always-ok, interval: 1h, warning_if: "1 > 2"}\n',
    );
    await startAgent(dirs);
    // The unix socket: admin, so eval, reload and keys answer too.
    api = `unix:${join(dirs.dataDir, 'api.sock')}`;
    keyFile = join(tempDir(), 'key');
    writeFileSync(keyFile, runCli(['agent', 'keygen']).stdout);
  });

  /** Commands run on the shared agent: the arguments they need and the exit code expected. */
  const onTheAgent = (): Record<
    string,
    { args: string[]; code?: number; check?: (out: Record<string, unknown>) => void }
  > => ({
    'agent info': { args: [], check: (out) => expect(out.name).toBe('json-test') },
    'agent reload': { args: [], check: (out) => expect(out.reloaded).toBe(true) },
    'agent keygen': { args: [], check: (out) => expect(out.key).toMatch(/^[A-Za-z0-9+/]{43}=$/) },
    // Nobody listens there: an error, as JSON, with the agent's status.
    'gossip join': {
      args: ['127.0.0.1:9'],
      code: 1,
      check: (out) =>
        expect(out).toEqual({
          error: 'no node answered at 127.0.0.1:9: nothing there, or a firewall',
          exit_code: 1,
          http_status: 422,
        }),
    },
    'gossip members': {
      args: [],
      check: (out) => expect(out).toMatchObject([{ name: 'json-test', self: true }]),
    },
    'gossip detect': { args: ['--timeout', '0.2'], check: (out) => expect(out).toHaveProperty('nodes') },
    'gossip stats': { args: [], check: (out) => expect(out).toHaveProperty('packetsIn') },
    'gossip keys list': { args: [], check: (out) => expect(out.keys).toHaveLength(1) },
    'gossip keys install': {
      args: ['--file', keyFile],
      check: (out) =>
        expect(out).toMatchObject({
          op: 'install',
          fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/) as unknown,
        }),
    },
    'collectors list': { args: [], check: (out) => expect(out).toMatchObject([{ name: 'memory' }]) },
    'collectors show': {
      args: ['memory'],
      check: (out) => expect(out).toMatchObject({ name: 'memory', type: 'memory' }),
    },
    'detectors list': { args: [], check: (out) => expect(out.groups).toContain('linux') },
    'detectors show': {
      args: ['os-linux'],
      check: (out) => expect(out).toMatchObject({ name: 'os-linux', last_result: true }),
    },
    'evaluator eval': { args: ['1 + 1'], check: (out) => expect(out.value).toBe(2) },
    'evaluator list': { args: [], check: (out) => expect(Array.isArray(out)).toBe(true) },
    'packs list': { args: [], check: (out) => expect(Array.isArray(out)).toBe(true) },
    'packs show': {
      args: ['linux'],
      check: (out) => expect(out).toMatchObject({ name: 'linux', enabled: false }),
    },
    version: {
      args: [],
      check: (out) =>
        expect(out).toMatchObject({
          version: expect.stringMatching(/^\d+\.\d+\.\d+$/) as unknown,
          node: process.version,
          platform: process.platform,
          agent: { name: 'json-test' },
        }),
    },
    completion: {
      args: ['zsh'],
      check: (out) =>
        expect(out).toMatchObject({ shell: 'zsh', script: expect.stringContaining('compdef') as unknown }),
    },
    __names: { args: ['collectors'], check: (out) => expect(out).toEqual(['memory']) },
    'checks list': {
      args: [],
      check: (out) => expect(out).toMatchObject([{ name: 'always-ok', type: 'evaluated' }]),
    },
    'checks run': { args: ['always-ok'], check: (out) => expect(out).toMatchObject({ state: 'ok' }) },
    'checks show': {
      args: ['always-ok'],
      check: (out) => expect(out).toMatchObject({ status: { name: 'always-ok', state: 'ok' } }),
    },
    'checks placed': { args: [], check: (out) => expect(out).toEqual([]) },
    targets: {
      args: [],
      check: (out) =>
        expect(out).toMatchObject([{ name: 'always-ok', enabled: true, counters: { fail: 0 } }]),
    },
    // Before the override below (the entries run in this order).
    'status show': { args: [], check: (out) => expect(out).toMatchObject({ status: 'OK' }) },
    'status override': {
      args: ['critical', '--reason', 'json test'],
      check: (out) => expect(out).toMatchObject({ override: { state: 'critical', reason: 'json test' } }),
    },
    'status clear': { args: [], check: (out) => expect(out).toEqual({ cleared: true }) },
    'kv put': { args: ['app/name', 'opsbro'], check: (out) => expect(out).toMatchObject({ ok: true }) },
    'kv get': {
      args: ['app/name'],
      check: (out) => expect(out).toMatchObject({ key: 'app/name', text: 'opsbro' }),
    },
    'kv list': { args: ['app/'], check: (out) => expect(out).toEqual(['app/name']) },
    'kv delete': { args: ['app/name'], check: (out) => expect(out).toMatchObject({ ok: true }) },
    // The shared agent keeps its collectors' numbers (a node name as the first path node).
    'metrics list': { args: [], check: (out) => expect(Array.isArray(out)).toBe(true) },
    'metrics show': {
      args: ['constantLine(3)', '--from', '-5min'],
      check: (out) => expect(out).toMatchObject([{ target: '3.0' }]),
    },
  });

  it('every command accepts it (the tree has no command this test does not run)', () => {
    const covered = [
      ...Object.keys(onTheAgent()),
      // Run on an agent of their own below: they stop it or make it leave.
      'agent start',
      'agent stop',
      'gossip leave',
      'gossip keys use',
      'gossip keys remove',
      // Runs until interrupted: test/cli/kv.test.ts runs it.
      'kv watch',
    ];
    expect(leaves(buildProgram()).sort()).toEqual(covered.sort());
    for (const path of leaves(buildProgram())) {
      const help = runCli([...path.split(' '), '--help']);
      expect(help.stdout, path).toContain('--json');
    }
  });

  it('each command prints valid JSON on the shared agent', () => {
    const program = buildProgram();
    for (const [path, { args, code, check }] of Object.entries(onTheAgent())) {
      const command = path
        .split(' ')
        .reduce<Command>((at, name) => at.commands.find((sub) => sub.name() === name)!, program);
      const talksToAgent = command.options.some((option) => option.long === '--api');
      const out = json([...path.split(' '), ...args, ...(talksToAgent ? ['--api', api] : [])], code);
      check?.(out);
    }
  });

  it('keys use/remove, gossip leave, agent start --daemon and agent stop print valid JSON', async () => {
    const key = runCli(['agent', 'keygen']).stdout.trim();
    const dirs = await prepareAgentDirs(`node_name: json-daemon\nencryption_key: "${key}"\n${WITHOUT_PACKS}`);
    const started = json([
      'agent',
      'start',
      '--daemon',
      '--config-dir',
      dirs.configDir,
      '--data-dir',
      dirs.dataDir,
    ]);
    expect(started).toEqual({
      pid: expect.any(Number) as unknown,
      log: join(dirs.dataDir, 'logs', 'opsbro.log'),
    });
    const pid = started.pid as number;
    try {
      const socket = ['--api', `unix:${join(dirs.dataDir, 'api.sock')}`];
      const primary = (json(['gossip', 'keys', 'list', ...socket]) as { primary: string }).primary;
      const added = json(['gossip', 'keys', 'install', '--file', keyFile, ...socket]).fingerprint as string;
      expect(json(['gossip', 'keys', 'use', added, ...socket])).toEqual({ op: 'use', fingerprint: added });
      expect(json(['gossip', 'keys', 'remove', primary, ...socket])).toEqual({
        op: 'remove',
        fingerprint: primary,
      });
      // Removing the primary is refused: the agent's reason, as JSON.
      expect(json(['gossip', 'keys', 'remove', added, ...socket], 1)).toMatchObject({
        error: expect.stringContaining('primary') as unknown,
        exit_code: 1,
        http_status: 422,
      });
      expect(json(['gossip', 'leave', ...socket])).toEqual({ left: true });
      expect(json(['agent', 'stop', ...socket])).toEqual({ stopped: true, pid });
      expect(isAlive(pid)).toBe(false);
      // Stopping it again: already stopped, a success (as `systemctl stop`).
      expect(json(['agent', 'stop', ...socket])).toEqual({
        stopped: true,
        already_stopped: true,
        api: `unix:${join(dirs.dataDir, 'api.sock')}`,
      });
    } finally {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  it('agent start in the foreground logs JSON lines on stdout; a start that fails is a JSON error', async () => {
    const dirs = await prepareAgentDirs(`node_name: json-foreground\n${WITHOUT_PACKS}`);
    const agent = await startAgent(dirs, ['--json']);
    agent.process.kill('SIGTERM');
    expect((await agent.exited).code).toBe(0);
    const lines = agent.output().trim().split('\n');
    expect(lines.length).toBeGreaterThan(2);
    for (const line of lines) expect(() => JSON.parse(line) as unknown, line).not.toThrow();
    expect(lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).toContain('agent stopped');

    // A start that fails once the log runs (its API port taken): still only JSON lines.
    const taken = await prepareAgentDirs(`node_name: json-taken\n${WITHOUT_PACKS}`);
    const running = await startAgent(taken);
    writeFileSync(join(dirs.configDir, 'conf.d', 'port.yml'), `api:\n  port: ${taken.port}\n`);
    const clash = runCli([
      'agent',
      'start',
      '--json',
      '--config-dir',
      dirs.configDir,
      '--data-dir',
      dirs.dataDir,
    ]);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toBe('');
    const clashLines = clash.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    // The log's lines are written asynchronously: the error may come before or after them.
    expect(clashLines.find((line) => 'exit_code' in line)).toEqual({
      error: expect.stringContaining(String(taken.port)) as unknown,
      exit_code: 1,
    });
    expect(clashLines.map((line) => line.msg)).toContain('agent failed to start');
    running.process.kill('SIGTERM');
    await running.exited;

    writeFileSync(join(dirs.configDir, 'conf.d', 'bad.yml'), 'api:\n  port: http\n');
    const refused = json(['agent', 'start', '--config-dir', dirs.configDir, '--data-dir', dirs.dataDir], 1);
    expect(refused).toEqual({
      error: expect.stringMatching(/^config error: .*bad\.yml:2: api\.port: expected an integer/) as unknown,
      exit_code: 1,
    });
  });
});
