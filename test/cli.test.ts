// The opsbro command: --json, exit codes (0 ok, 1 error, 2 usage), help, suggestions, completion.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanupAll,
  freePort,
  OPSBRO_BIN,
  prepareAgentDirs,
  WITHOUT_PACKS,
  runCli,
  startAgent,
} from './helpers/agent-process.js';

afterAll(cleanupAll);

describe('talking to an agent', () => {
  let api: string;
  beforeAll(async () => {
    const dirs = await prepareAgentDirs('node_name: cli-test\ngroups: [db]\n' + WITHOUT_PACKS);
    await startAgent(dirs);
    api = `http://127.0.0.1:${dirs.port}`;
  });

  it('agent info --json prints valid JSON, exit 0', () => {
    const result = runCli(['agent', 'info', '--json', '--api', api]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ name: 'cli-test', groups: ['db'], state: 'ok' });
  });

  it('agent info prints aligned fields and a subsystem table; colour only when asked', () => {
    const plain = runCli(['agent', 'info'], { OPSBRO_API: api });
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^Name {8}cli-test {2}[0-9a-f-]{36}$/m);
    expect(plain.stdout).toMatch(/^Groups {6}db$/m);
    expect(plain.stdout).toMatch(/^SUBSYSTEM {3}STATE {2}MESSAGE$/m);
    expect(plain.stdout).toMatch(/^collectors {2}ok$/m);
    expect(plain.stdout).toMatch(/^api {9}ok$/m);
    expect(plain.stdout).not.toContain('\x1b[');
    const coloured = runCli(['agent', 'info'], { OPSBRO_API: api, NO_COLOR: '', FORCE_COLOR: '1' });
    // No key and loopback only: a caution (yellow); red is for an open cluster beyond loopback.
    expect(coloured.stdout).toContain('\x1b[33mdisabled: no encryption_key');
    const noColor = runCli(['agent', 'info'], { OPSBRO_API: api, NO_COLOR: '1', FORCE_COLOR: '1' });
    expect(noColor.stdout).not.toContain('\x1b[');
  });

  it('exits 1 with a clear message when no agent answers', async () => {
    const port = await freePort();
    const result = runCli(['agent', 'info', '--api', `http://127.0.0.1:${port}`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `opsbro: cannot reach the agent at http://127.0.0.1:${port} (ECONNREFUSED): is it running? ` +
        'Start it with `opsbro agent start`, or point --api / OPSBRO_API at it\n',
    );
  });
});

describe('usage', () => {
  it('an unknown command exits 2 and suggests the closest one', () => {
    const result = runCli(['agnet', 'info']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("error: unknown command 'agnet'");
    expect(result.stderr).toContain('(Did you mean agent?)');
    const sub = runCli(['agent', 'inf']);
    expect(sub.code).toBe(2);
    expect(sub.stderr).toContain('(Did you mean info?)');
  });

  it('an unknown option or a bad --api exits 2', () => {
    expect(runCli(['agent', 'info', '--jsno']).code).toBe(2);
    const badApi = runCli(['agent', 'info', '--api', 'ftp://x']);
    expect(badApi.code).toBe(2);
    expect(badApi.stderr).toBe('opsbro: --api/OPSBRO_API ftp://x: only http:// and unix: are supported\n');
  });

  it('no command prints help and exits 2; --help exits 0 at every level', () => {
    const bare = runCli([]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('Usage: opsbro');
    for (const args of [
      [],
      ['agent'],
      ['agent', 'start'],
      ['agent', 'stop'],
      ['agent', 'info'],
      ['agent', 'reload'],
      ['agent', 'keygen'],
      ['completion'],
    ]) {
      const help = runCli([...args, '--help']);
      expect(help.code, args.join(' ')).toBe(0);
      expect(help.stdout).toContain(`Usage: opsbro${args.length ? ' ' + args.join(' ') : ''}`);
    }
  });

  it('`help` and `help COMMAND` exit 0; a bad --timeout is a usage error', () => {
    expect(runCli(['help']).code).toBe(0);
    expect(runCli(['agent', 'help', 'info']).code).toBe(0);
    const bad = runCli(['agent', 'stop', '--timeout', 'abc']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("argument 'abc' is invalid. expected a positive number of seconds");
  });

  it('shows only commands that exist in this build', () => {
    const help = runCli(['--help']).stdout;
    const commands = [...help.matchAll(/^ {2}([a-z]+)/gm)].map((match) => match[1]);
    expect(commands).toEqual([
      'agent',
      'gossip',
      'collectors',
      'detectors',
      'evaluator',
      'packs',
      'completion',
      'help',
    ]);
  });

  it('--version prints the package version', () => {
    const result = runCli(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe('agent keygen', () => {
  it('prints a fresh base64 key of 32 bytes, also as JSON', () => {
    const first = runCli(['agent', 'keygen']).stdout.trim();
    const second = JSON.parse(runCli(['agent', 'keygen', '--json']).stdout) as { key: string };
    expect(Buffer.from(first, 'base64')).toHaveLength(32);
    expect(Buffer.from(second.key, 'base64')).toHaveLength(32);
    expect(first).not.toBe(second.key);
  });

  it('a generated key is accepted as encryption_key', async () => {
    const key = runCli(['agent', 'keygen']).stdout.trim();
    const dirs = await prepareAgentDirs(`encryption_key: "${key}"\n`);
    await startAgent(dirs);
    const info = JSON.parse(
      runCli(['agent', 'info', '--json', '--api', `http://127.0.0.1:${dirs.port}`]).stdout,
    ) as {
      encryption: { enabled: boolean; primary_fingerprint: string };
    };
    // The fingerprint is the key's, as `gossip keys list` shows it.
    const keys = JSON.parse(
      runCli(['gossip', 'keys', 'list', '--json', '--api', `http://127.0.0.1:${dirs.port}`]).stdout,
    ) as { primary: string };
    expect(info.encryption).toEqual({ enabled: true, primary_fingerprint: keys.primary });
    expect(keys.primary).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('bash completion', () => {
  const complete = (words: string[]): string[] => {
    const script = [
      `opsbro() { node ${JSON.stringify(OPSBRO_BIN)} "$@"; }`,
      'source <(opsbro completion bash)',
      `COMP_WORDS=(${words.map((word) => JSON.stringify(word)).join(' ')})`,
      `COMP_CWORD=${words.length - 1}`,
      '_opsbro_complete',
      'printf "%s\\n" "${COMPREPLY[@]}"',
    ].join('\n');
    const result = spawnSync('bash', ['-c', script], { encoding: 'utf8', cwd: join(OPSBRO_BIN, '..', '..') });
    expect(result.stderr).toBe('');
    return result.stdout.split('\n').filter(Boolean);
  };

  it('completes commands, subcommands and options from the real command tree', () => {
    expect(complete(['opsbro', 'ag'])).toEqual(['agent']);
    expect(complete(['opsbro', 'agent', 'st']).sort()).toEqual(['start', 'stop']);
    expect(complete(['opsbro', 'agent', 'start', '--d']).sort()).toEqual(['--daemon', '--data-dir']);
    expect(complete(['opsbro', 'agent', 'info', '--'])).toEqual(
      expect.arrayContaining(['--json', '--api', '--token']),
    );
  });

  it('completes directories after --config-dir, nothing after an option that takes a value', () => {
    expect(complete(['opsbro', 'agent', 'start', '--config-dir', 'et'])).toEqual(['etc']);
    expect(complete(['opsbro', 'agent', 'info', '--api', ''])).toEqual([]);
    expect(complete(['opsbro', 'agent', 'he'])).toEqual(['help']);
  });

  it('refuses an unknown shell with a usage error', () => {
    const result = runCli(['completion', 'tcsh']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("opsbro: completion: unsupported shell 'tcsh' (supported: bash)\n");
  });
});
