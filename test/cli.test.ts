// The opsbro command: --json, exit codes (0 ok, 1 error, 2 usage), help, suggestions, completion.
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
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
  tempDir,
} from './helpers/agent-process.js';
import { bashComplete } from './helpers/completion.js';

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
    expect(result.stderr).toBe(
      "opsbro: unknown command 'agnet' (did you mean agent?); see `opsbro --help`\n",
    );
    const sub = runCli(['agent', 'inf']);
    expect(sub.code).toBe(2);
    expect(sub.stderr).toBe(
      "opsbro: unknown command 'inf' (did you mean info?); see `opsbro agent --help`\n",
    );
  });

  it('an unknown option or a bad --api exits 2', () => {
    const typo = runCli(['agent', 'info', '--jsno']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toBe(
      "opsbro: unknown option '--jsno' (did you mean --json?); see `opsbro agent info --help`\n",
    );
    const badApi = runCli(['agent', 'info', '--api', 'ftp://x']);
    expect(badApi.code).toBe(2);
    expect(badApi.stderr).toBe('opsbro: --api/OPSBRO_API ftp://x: only http:// and unix: are supported\n');
  });

  it('no command prints help and exits 2; --help exits 0 at every level', () => {
    const bare = runCli([]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(
      /^opsbro: missing command after 'opsbro': agent, gossip, .*\n\nUsage: opsbro/,
    );
    const group = runCli(['gossip', 'keys']);
    expect(group.code).toBe(2);
    expect(group.stderr).toMatch(
      /^opsbro: missing command after 'opsbro gossip keys': list, install, use, remove /,
    );
    for (const args of [
      [],
      ['agent'],
      ['agent', 'start'],
      ['agent', 'stop'],
      ['agent', 'info'],
      ['agent', 'reload'],
      ['agent', 'keygen'],
      ['gossip', 'stats'],
      ['gossip', 'keys', 'install'],
      ['version'],
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
    expect(bad.stderr).toBe(
      "opsbro: option '--timeout <seconds>' argument 'abc' is invalid. expected a positive number of seconds; " +
        'see `opsbro agent stop --help`\n',
    );
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
      'checks',
      'kv',
      'metrics',
      'status',
      'targets',
      'packs',
      'version',
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

/** An agent that knows a few names: collectors `memory` and `load`, detector `os-linux`, member `names-test`. */
async function agentWithNames(): Promise<string> {
  const dirs = await prepareAgentDirs('node_name: names-test\n' + WITHOUT_PACKS);
  writeFileSync(
    join(dirs.configDir, 'conf.d', 'names.yml'),
    [
      '- collector: {name: memory, type: memory, interval: 60s}',
      '- collector: {name: load, type: loadaverage, interval: 60s}',
      '- detector: {name: os-linux, apply_if: "system_get_os() == \'linux\'", groups: [linux]}',
      '',
    ].join('\n'),
  );
  await startAgent(dirs);
  return `http://127.0.0.1:${dirs.port}`;
}

describe('bash completion', () => {
  let api: string;
  beforeAll(async () => {
    api = await agentWithNames();
  });

  const complete = bashComplete;

  it('completes commands, subcommands and options from the real command tree', () => {
    expect(complete(['opsbro', 'ag'])).toEqual(['agent']);
    expect(complete(['opsbro', 'agent', 'st']).sort()).toEqual(['start', 'stop']);
    expect(complete(['opsbro', 'agent', 'start', '--d']).sort()).toEqual(['--daemon', '--data-dir']);
    expect(complete(['opsbro', 'agent', 'info', '--'])).toEqual(
      expect.arrayContaining(['--json', '--api', '--token']),
    );
    expect(complete(['opsbro', 'gossip', 'keys', 'install', '--'])).toEqual(
      expect.arrayContaining(['--file', '--json']),
    );
    expect(complete(['opsbro', 've'])).toEqual(['version']);
    expect(complete(['opsbro', 'completion', ''])).toEqual(expect.arrayContaining(['bash', 'zsh']));
  });

  it('completes directories after --config-dir, files after --file, nothing after an option that takes a value', () => {
    expect(complete(['opsbro', 'agent', 'start', '--config-dir', 'et'])).toEqual(['etc']);
    expect(complete(['opsbro', 'gossip', 'keys', 'install', '--file', 'package.'])).toEqual(['package.json']);
    expect(complete(['opsbro', 'agent', 'info', '--api', ''])).toEqual([]);
    expect(complete(['opsbro', 'agent', 'he'])).toEqual(['help']);
  });

  it("completes the agent's collector, pack, detector and member names", () => {
    const env = { OPSBRO_API: api };
    expect(complete(['opsbro', 'collectors', 'show', ''], env)).toEqual(
      expect.arrayContaining(['memory', 'load']),
    );
    expect(complete(['opsbro', 'collectors', 'show', 'me'], env)).toEqual(['memory']);
    // One name taken: the argument is full, only options are left.
    expect(complete(['opsbro', 'collectors', 'show', 'memory', ''], env)).not.toContain('load');
    expect(complete(['opsbro', 'packs', 'show', 'li'], env)).toEqual(['linux']);
    expect(complete(['opsbro', 'detectors', 'show', 'os'], env)).toEqual(['os-linux']);
    expect(complete(['opsbro', 'gossip', 'members', 'na'], env)).toEqual(['names-test']);
    // --api on the line being completed is where the names come from.
    expect(complete(['opsbro', 'collectors', 'show', '--api', api, 'lo'])).toEqual(['load']);
  });

  it('offers no names, and no error, when no agent answers', async () => {
    const port = await freePort();
    const started = Date.now();
    expect(
      complete(['opsbro', 'collectors', 'show', ''], { OPSBRO_API: `http://127.0.0.1:${port}` }),
    ).toEqual(['--api', '--token', '--json', '--help']);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('refuses an unknown shell with a usage error', () => {
    const result = runCli(['completion', 'tcsh']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      "opsbro: command-argument value 'tcsh' is invalid for argument 'shell'. Allowed choices are bash, zsh; " +
        'see `opsbro completion --help`\n',
    );
  });
});

// zsh is installed by .ci/run: required in CI, skipped elsewhere when missing.
const hasZsh = spawnSync('zsh', ['--version']).status === 0;
const withZsh = hasZsh || process.env.CI ? describe : describe.skip;

withZsh('zsh completion', () => {
  let api: string;
  let bin: string;
  beforeAll(async () => {
    api = await agentWithNames();
    // `opsbro` on PATH, as an installed one is: the script calls the command it completes.
    bin = tempDir('opsbro-zsh-');
    writeFileSync(
      join(bin, 'opsbro'),
      `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(OPSBRO_BIN)} "$@"\n`,
    );
    chmodSync(join(bin, 'opsbro'), 0o755);
  });
  const env = () => ({ ...process.env, PATH: `${bin}:${process.env.PATH}`, OPSBRO_API: api, TERM: 'dumb' });

  /** The words `_opsbro` offers, called as the completion system calls it, its helpers recorded. */
  const offered = (words: string[]): string[] => {
    const script = [
      'compdef() { : }',
      '_describe() { local -a offer; offer=("${(@P)4}"); print -rl -- "${offer[@]%%:*}" }',
      '_files() { print -r -- "(files $*)" }',
      'source <(opsbro completion zsh)',
      `words=(${words.map((word) => JSON.stringify(word)).join(' ')})`,
      `CURRENT=${words.length}`,
      '_opsbro',
    ].join('\n');
    const result = spawnSync('zsh', ['-f', '-c', script], { encoding: 'utf8', env: env() });
    expect(result.stderr).toBe('');
    return result.stdout.split('\n').filter(Boolean);
  };

  /**
   * Types LINE and a TAB into a real interactive zsh (zpty, compinit) and returns what the
   * terminal showed once PATTERN (a zsh glob) appeared, or after 10 s.
   */
  const typed = (line: string, pattern: string): { found: boolean; screen: string } => {
    const driver = [
      'zmodload zsh/zpty',
      'zpty z zsh -f -i',
      `zpty -w z 'PS1="> "; autoload -Uz compinit && compinit -u -D && source <(opsbro completion zsh) && print READY'`,
      'screen=""',
      'wait_for() {',
      '  local deadline=$(( SECONDS + 10 )) chunk',
      '  while (( SECONDS < deadline )); do',
      '    if zpty -r -t z chunk 2>/dev/null; then screen+=$chunk; [[ $screen == $~1 ]] && return 0; else sleep 0.05; fi',
      '  done',
      '  return 1',
      '}',
      "wait_for '*READY*' || exit 2",
      'screen=""',
      `zpty -w -n z ${JSON.stringify(line)}$'\\t'`,
      `wait_for ${JSON.stringify(pattern)}; found=$?`,
      'print -r -- "$screen"',
      'zpty -d z',
      'exit $found',
    ].join('\n');
    const result = spawnSync('zsh', ['-f', '-c', driver], { encoding: 'utf8', env: env(), timeout: 30_000 });
    return { found: result.status === 0, screen: result.stdout };
  };

  it('offers commands, options, choices and paths from the real command tree', () => {
    expect(offered(['opsbro', ''])).toEqual(
      expect.arrayContaining(['agent', 'gossip', 'version', 'completion']),
    );
    expect(offered(['opsbro', 'agent', ''])).toEqual(
      expect.arrayContaining(['start', 'stop', 'info', 'reload', 'keygen']),
    );
    expect(offered(['opsbro', 'gossip', 'stats', '--'])).toEqual(['--api', '--token', '--json', '--help']);
    expect(offered(['opsbro', 'completion', ''])).toEqual(expect.arrayContaining(['bash', 'zsh']));
    expect(offered(['opsbro', 'agent', 'start', '--config-dir', ''])).toEqual(['(files -/)']);
    expect(offered(['opsbro', 'gossip', 'keys', 'install', '--file', ''])).toEqual(['(files )']);
    expect(offered(['opsbro', 'agent', 'info', '--api', ''])).toEqual([]);
  });

  it("offers the agent's names after the commands that take one", () => {
    expect(offered(['opsbro', 'collectors', 'show', ''])).toEqual(expect.arrayContaining(['memory', 'load']));
    expect(offered(['opsbro', 'collectors', 'show', 'memory', ''])).not.toContain('load');
    expect(offered(['opsbro', 'packs', 'show', ''])).toEqual(expect.arrayContaining(['linux', 'system']));
    expect(offered(['opsbro', 'detectors', 'show', ''])).toContain('os-linux');
    expect(offered(['opsbro', 'gossip', 'members', ''])).toContain('names-test');
  });

  it('completes for real in an interactive zsh (compinit, TAB)', () => {
    const command = typed('opsbro ag', '*opsbro agent *');
    expect(command.found, command.screen).toBe(true);
    const collector = typed('opsbro collectors show mem', '*collectors show memory *');
    expect(collector.found, collector.screen).toBe(true);
    const detector = typed('opsbro detectors show os-', '*detectors show os-linux *');
    expect(detector.found, detector.screen).toBe(true);
  });
});
