// One error format: `opsbro: ...` on stderr (exit 1 failed, 2 usage), or under --json
// `{"error", "exit_code", ...}` on stdout and nothing on stderr; a reader that goes away ends the
// command quietly.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, openSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanupAll,
  freePort,
  OPSBRO_BIN,
  prepareAgentDirs,
  runCli,
  startAgent,
  tempDir,
  WITHOUT_PACKS,
} from '../helpers/agent-process.js';

afterAll(cleanupAll);

/** Runs with --json: the parsed stdout, and stderr (which must stay empty). */
function jsonRun(args: string[]): { code: number | null; out: Record<string, unknown>; stderr: string } {
  const result = runCli(args);
  return {
    code: result.code,
    out: JSON.parse(result.stdout) as Record<string, unknown>,
    stderr: result.stderr,
  };
}

describe('usage errors', () => {
  it('start with `opsbro: ` on stderr and exit 2, as JSON on stdout under --json', () => {
    const cases: Array<[string[], string]> = [
      [['agnet'], "unknown command 'agnet' (did you mean agent?); see `opsbro --help`"],
      [
        ['agent', 'info', '--jsno'],
        "unknown option '--jsno' (did you mean --json?); see `opsbro agent info --help`",
      ],
      [
        ['gossip', 'members', '--status', 'gone'],
        "option '--status <states>' argument 'gone' is invalid. expected states among alive, suspect, dead, left, " +
          'comma-separated; see `opsbro gossip members --help`',
      ],
      [['gossip', 'keys', 'install'], 'expected the key: --file PATH, --file - (stdin), or the key itself'],
      [['gossip', 'keys', 'install', 'KEY', '--file', 'key'], 'give the key or --file, not both'],
      [['packs', 'show'], "missing required argument 'name'; see `opsbro packs show --help`"],
      [
        ['agent'],
        "missing command after 'opsbro agent': start, stop, info, reload, keygen (see `opsbro agent --help`)",
      ],
    ];
    for (const [args, message] of cases) {
      const text = runCli(args);
      expect(text.code, args.join(' ')).toBe(2);
      expect(text.stdout).toBe('');
      expect(text.stderr.split('\n')[0]).toBe(`opsbro: ${message}`);
      const json = jsonRun([...args, '--json']);
      expect(json.stderr, args.join(' ')).toBe('');
      expect(json.code).toBe(2);
      expect(json.out).toEqual({ error: message, exit_code: 2 });
    }
  });

  it('--json counts wherever it is on the line (before `--`), and for help and --version too', () => {
    for (const args of [
      ['--json', 'agent', 'keygen'],
      ['agent', '--json', 'keygen'],
    ]) {
      const result = jsonRun(args);
      expect(result.code).toBe(0);
      expect(result.out.key).toMatch(/=$/);
    }
    const help = jsonRun(['agent', 'info', '--help', '--json']);
    expect(help.code).toBe(0);
    expect(help.out.help).toContain('Usage: opsbro agent info');
    expect(jsonRun(['--version', '--json']).out).toEqual({
      version: expect.stringMatching(/^\d+\.\d+\.\d+$/) as unknown,
    });
  });
});

describe('operation errors', () => {
  it('no agent: exit 1, `opsbro: ...` on stderr, or JSON with the reason code', async () => {
    const port = await freePort();
    const api = `http://127.0.0.1:${port}`;
    const message =
      `cannot reach the agent at ${api} (ECONNREFUSED): is it running? ` +
      'Start it with `opsbro agent start`, or point --api / OPSBRO_API at it';
    const text = runCli(['collectors', 'list', '--api', api]);
    expect(text).toEqual({ code: 1, stdout: '', stderr: `opsbro: ${message}\n` });
    const json = jsonRun(['collectors', 'list', '--api', api, '--json']);
    expect(json).toEqual({
      code: 1,
      stderr: '',
      out: { error: message, exit_code: 1, code: 'ECONNREFUSED' },
    });
  });

  describe('on a running agent', () => {
    let api: string;
    let dataDir: string;
    beforeAll(async () => {
      const dirs = await prepareAgentDirs('node_name: errors-test\n' + WITHOUT_PACKS);
      await startAgent(dirs);
      api = `http://127.0.0.1:${dirs.port}`;
      dataDir = dirs.dataDir;
    });

    it("an agent's refusal: its message; under --json its status and fields", () => {
      const text = runCli(['collectors', 'show', 'nosuch', '--api', api]);
      expect(text.code).toBe(1);
      expect(text.stderr).toMatch(/^opsbro: no collector named nosuch/);
      const json = jsonRun(['collectors', 'show', 'nosuch', '--api', api, '--json']);
      expect(json.stderr).toBe('');
      expect(json.code).toBe(1);
      expect(json.out).toEqual({
        error: expect.stringMatching(/^no collector named nosuch/) as unknown,
        exit_code: 1,
        http_status: 404,
      });
      const detector = jsonRun(['detectors', 'show', 'nosuch', '--api', api, '--json']);
      expect(detector.out).toEqual({
        error: 'no detector named nosuch (see `opsbro detectors list`)',
        exit_code: 1,
      });
    });

    // Dropping to nobody needs root; CI runs as root.
    const asRoot = process.getuid?.() === 0 || process.env.CI ? it : it.skip;
    asRoot('a refused admin route carries token_required and the data dir under --json', () => {
      const result = spawnSync(
        'setpriv',
        [
          '--reuid=nobody',
          '--regid=nogroup',
          '--clear-groups',
          process.execPath,
          OPSBRO_BIN,
          'agent',
          'reload',
          '--api',
          api,
          '--json',
        ],
        { encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH, NO_COLOR: '1' } },
      );
      expect(result.stderr).toBe('');
      expect(result.status).toBe(1);
      expect(JSON.parse(result.stdout)).toEqual({
        error: expect.stringMatching(
          /needs the admin role.*\(run the command as the agent's user, e\.g\. with sudo, or pass --token\)$/,
        ) as unknown,
        exit_code: 1,
        token_required: true,
        data_dir: dataDir,
        http_status: 403,
      });
    });
  });
});

describe('a reader that goes away (EPIPE)', () => {
  let api: string;
  beforeAll(async () => {
    const dirs = await prepareAgentDirs('node_name: epipe-test\n' + WITHOUT_PACKS);
    // 40 memory collectors: `collectors show` prints about 150 KiB, more than a pipe holds, so the
    // command is still writing when its reader goes away.
    writeFileSync(
      join(dirs.configDir, 'conf.d', 'many.yml'),
      Array.from(
        { length: 40 },
        (_, index) => `- collector: {name: memory${index}, type: memory, interval: 60s}\n`,
      ).join(''),
    );
    await startAgent(dirs);
    api = `http://127.0.0.1:${dirs.port}`;
  });

  it('`collectors show | head -1`: one line, exit 0, no stack trace', async () => {
    // A real pipe (a FIFO: a child's stdio pipes are socket pairs, which hold far more).
    const fifo = join(tempDir(), 'stdout');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const readEnd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writeEnd = openSync(fifo, constants.O_WRONLY);
    const child = spawn(process.execPath, [OPSBRO_BIN, 'collectors', 'show', '--api', api], {
      stdio: ['ignore', writeEnd, 'pipe'],
      env: { ...process.env, NO_COLOR: '1', OPSBRO_API: '', OPSBRO_TOKEN: '' },
    });
    closeSync(writeEnd);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // Read one line, then close the pipe, as `head -1` does.
    const input = new Socket({ fd: readEnd, readable: true, writable: false });
    const lines = createInterface({ input });
    const first = await new Promise<string>((resolve) => lines.once('line', resolve));
    lines.close();
    input.destroy();
    expect(first).toBe('collector  memory0 (type memory, every 60s)');
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
  });

  it('the same through a shell pipeline', () => {
    const result = spawnSync(
      'bash',
      [
        '-c',
        `set -o pipefail; ${JSON.stringify(process.execPath)} ${JSON.stringify(OPSBRO_BIN)} collectors show --api ${api} | head -1`,
      ],
      { encoding: 'utf8', timeout: 20_000, env: { ...process.env, NO_COLOR: '1' } },
    );
    expect(result.stdout).toBe('collector  memory0 (type memory, every 60s)\n');
    expect(result.stderr).toBe('');
    // pipefail: the status is opsbro's own, not head's.
    expect(result.status).toBe(0);
  });
});
