// Configuration loading: every error is one line naming file, line, key and what was expected.
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigErrors, loadConfig as loadConfigWithPacks, type LoadOptions } from '../agent/config/index.js';
import { cleanupAll, tempDir } from './helpers/agent-process.js';

afterEach(cleanupAll);

/** These tests are about agent.yml and conf.d: without the shipped packs unless a test names its pack dirs. */
const loadConfig = (options: LoadOptions) => loadConfigWithPacks({ packDirs: [], ...options });

function configDir(files: Record<string, string>): string {
  const dir = tempDir();
  mkdirSync(join(dir, 'conf.d'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

function loadErrors(dir: string, env: Record<string, string> = {}): string[] {
  try {
    loadConfig({ configDir: dir, env: (name) => env[name] });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigErrors);
    return (error as ConfigErrors).errors.map((e) => e.message);
  }
  throw new Error('expected the configuration to be refused');
}

describe('loadConfig', () => {
  it('gives every setting a default when agent.yml is empty or missing', () => {
    for (const files of [{ 'agent.yml': '' }, {}] as Array<Record<string, string>>) {
      const { settings, warnings } = loadConfig({ configDir: configDir(files) });
      expect(settings.datacenter).toBe('dc1');
      expect(settings.api).toEqual({ bind: '127.0.0.1', port: 6768, socket: true, max_body_bytes: 1048576 });
      expect(settings.log.level).toBe('info');
      expect(settings.groups).toEqual([]);
      expect(warnings).toEqual([]);
    }
  });

  it.each([
    [
      'bad indentation',
      'datacenter: dc1\napi:\n  port: 1\n bind: x\n',
      4,
      'All mapping items must start at the same column',
    ],
    ['a duplicate key', 'datacenter: dc1\napi:\n  port: 1\napi:\n  port: 2\n', 4, 'Map keys must be unique'],
    ['a tab', 'datacenter: dc1\n\tgroups: []\n', 2, 'Tabs are not allowed as indentation'],
  ])('reports a YAML syntax error (%s) as one line with file and line', (_what, text, line, problem) => {
    const dir = configDir({ 'agent.yml': text });
    expect(loadErrors(dir)).toEqual([`${join(dir, 'agent.yml')}:${line}: YAML syntax error: ${problem}`]);
  });

  it('reports a wrong type with file, line, key and the expected type', () => {
    const dir = configDir({ 'agent.yml': 'datacenter: dc1\napi:\n  bind: 127.0.0.1\n  port: "http"\n' });
    expect(loadErrors(dir)).toEqual([
      `${join(dir, 'agent.yml')}:4: api.port: expected an integer, got string "http"`,
    ]);
  });

  it('explains enums, ranges and patterns in operator terms', () => {
    const dir = configDir({
      'agent.yml':
        'log:\n  level: loud\napi:\n  port: 70000\ndatacenter: "DC 1"\ngroups: [ok, "bad group"]\n',
    });
    const file = join(dir, 'agent.yml');
    expect(loadErrors(dir)).toEqual([
      `${file}:2: log.level: expected one of debug, info, warn, error, got string "loud"`,
      `${file}:4: api.port: expected a number <= 65535, got number 70000`,
      `${file}:5: datacenter: expected a DNS label of lowercase letters, digits and dashes, got string "DC 1"`,
      `${file}:6: groups[1]: expected a group name of letters, digits, _ . -, got string "bad group"`,
    ]);
  });

  it('warns about unknown keys with file and line, and ignores them', () => {
    const dir = configDir({ 'agent.yml': 'datacenter: dc2\napi:\n  prot: 1234\nfrobnicate: true\n' });
    const { settings, warnings } = loadConfig({ configDir: dir });
    const file = join(dir, 'agent.yml');
    expect(warnings).toEqual([
      `${file}:3: api.prot: unknown key, ignored`,
      `${file}:4: frobnicate: unknown key, ignored`,
    ]);
    expect(settings.datacenter).toBe('dc2');
    expect(settings.api.port).toBe(6768);
    expect(settings).not.toHaveProperty('frobnicate');
  });

  it('substitutes ${ENV}, typed when the whole plain value is a reference, with defaults', () => {
    const dir = configDir({
      'agent.yml': 'node_name: "web-${ROLE}"\napi:\n  port: ${API_PORT}\n  bind: ${API_BIND:-127.0.0.2}\n',
    });
    const { settings } = loadConfig({
      configDir: dir,
      env: (name) => ({ ROLE: 'front', API_PORT: '7001' })[name],
    });
    expect(settings.node_name).toBe('web-front');
    expect(settings.api.port).toBe(7001);
    expect(settings.api.bind).toBe('127.0.0.2');
    const escaped = configDir({ 'agent.yml': 'node_name: "$${NOT_A_VAR}"\n' });
    expect(loadConfig({ configDir: escaped, env: () => undefined }).settings.node_name).toBe('${NOT_A_VAR}');
  });

  it('refuses a reference to an unset variable, naming it and the line', () => {
    const dir = configDir({ 'agent.yml': 'datacenter: dc1\nnode_name: ${NODE_NAME_UNSET}\n' });
    expect(loadErrors(dir)).toEqual([
      `${join(dir, 'agent.yml')}:2: environment variable NODE_NAME_UNSET is not set (use \${NODE_NAME_UNSET:-default} for a default)`,
    ]);
  });

  it('refuses an environment value of the wrong type, at the line that references it', () => {
    const dir = configDir({ 'agent.yml': 'api:\n  port: ${API_PORT}\n' });
    expect(loadErrors(dir, { API_PORT: 'eighty' })).toEqual([
      `${join(dir, 'agent.yml')}:2: api.port: expected an integer, got string "eighty"`,
    ]);
  });

  it('reports unreadable files: a directory in place of a file, a dangling link in conf.d', () => {
    const dir = configDir({});
    mkdirSync(join(dir, 'agent.yml'));
    symlinkSync(join(dir, 'missing-target.yml'), join(dir, 'conf.d', '10-gone.yml'));
    expect(loadErrors(dir)).toEqual([
      `${join(dir, 'agent.yml')}: cannot read file (EISDIR: is a directory, expected a file)`,
      `${join(dir, 'conf.d', '10-gone.yml')}: cannot read file (ENOENT: no such file)`,
    ]);
  });

  it('refuses a missing config dir', () => {
    const missing = join(tempDir(), 'nope');
    expect(loadErrors(missing)).toEqual([`${missing}: config dir does not exist or is not a directory`]);
  });

  it('merges conf.d over agent.yml in name order: mappings key by key, lists replaced', () => {
    const dir = configDir({
      'agent.yml': 'datacenter: dc1\ngroups: [a]\napi:\n  port: 7000\n  socket: false\n',
    });
    writeFileSync(join(dir, 'conf.d', '20-late.yml'), 'api:\n  port: 7002\n');
    writeFileSync(join(dir, 'conf.d', '10-early.yml'), 'api:\n  port: 7001\ngroups: [b, c]\n');
    writeFileSync(join(dir, 'conf.d', 'notes.txt'), 'not yaml: [');
    const { settings, files } = loadConfig({ configDir: dir });
    expect(files.map((file) => file.slice(dir.length))).toEqual([
      '/agent.yml',
      '/conf.d/10-early.yml',
      '/conf.d/20-late.yml',
    ]);
    expect(settings.api.port).toBe(7002);
    expect(settings.api.socket).toBe(false);
    expect(settings.groups).toEqual(['b', 'c']);
  });

  it('locates errors in the conf.d file that holds them', () => {
    const dir = configDir({ 'agent.yml': 'datacenter: dc1\n' });
    writeFileSync(join(dir, 'conf.d', 'api.yml'), '# api override\napi:\n  socket: "yes please"\n');
    expect(loadErrors(dir)).toEqual([
      `${join(dir, 'conf.d', 'api.yml')}:3: api.socket: expected true or false, got string "yes please"`,
    ]);
  });

  it('separates definitions from settings and validates them against their kind', () => {
    const dir = configDir({ 'agent.yml': 'datacenter: dc1\n' });
    writeFileSync(join(dir, 'conf.d', 'probe.yml'), 'groups: [web]\nprobe:\n  interval: 5\n');
    writeFileSync(
      join(dir, 'conf.d', 'list.yml'),
      '- probe:\n    interval: 10\n- probe:\n    interval: "often"\n',
    );
    const definitionSchemas = {
      probe: Type.Object({ interval: Type.Integer(), enabled: Type.Boolean({ default: true }) }),
    };
    let errors: string[] = [];
    try {
      loadConfig({ configDir: dir, definitionSchemas });
    } catch (error) {
      errors = (error as ConfigErrors).errors.map((e) => e.message);
    }
    expect(errors).toEqual([
      `${join(dir, 'conf.d', 'list.yml')}:4: [1].probe.interval: expected an integer, got string "often"`,
    ]);

    writeFileSync(join(dir, 'conf.d', 'list.yml'), '- probe:\n    interval: 10\n');
    const loaded = loadConfig({ configDir: dir, definitionSchemas });
    expect(loaded.settings.groups).toEqual(['web']);
    expect(
      loaded.definitions.map((d) => [d.kind, d.body, d.source.file.slice(dir.length), d.source.line]),
    ).toEqual([
      ['probe', { interval: 10, enabled: true }, '/conf.d/list.yml', 1],
      ['probe', { interval: 5, enabled: true }, '/conf.d/probe.yml', 2],
    ]);
  });

  it('refuses a definition of a kind that no subsystem of this build handles, saying what is missing', () => {
    const dir = configDir({ 'agent.yml': 'datacenter: dc1\ncheck:\n  interval: 10s\n' });
    writeFileSync(
      join(dir, 'conf.d', 'mail.yml'),
      '- handler:\n    type: mail\n- service:\n    type: http\n',
    );
    writeFileSync(join(dir, 'conf.d', 'probe.yml'), 'probe:\n  interval: 5\n');
    writeFileSync(join(dir, 'conf.d', 'pack.yml'), 'pack:\n  name: mine\n');
    expect(loadErrors(dir)).toEqual([
      `${join(dir, 'agent.yml')}:2: check: no subsystem of this build handles check: definitions`,
      `${join(dir, 'conf.d', 'mail.yml')}:1: handler: no subsystem of this build handles handler: definitions (the handlers (notifications) are not built yet)`,
      `${join(dir, 'conf.d', 'mail.yml')}:3: service: no subsystem of this build handles service: definitions (the service checks are not built yet)`,
      `${join(dir, 'conf.d', 'pack.yml')}:1: pack: a pack's manifest: it belongs in packs/<name>/pack.yml, not among definitions`,
    ]);
    // probe: is a kind here only when a subsystem handles it; otherwise it is an unknown setting.
    rmSync(join(dir, 'conf.d', 'mail.yml'));
    rmSync(join(dir, 'conf.d', 'pack.yml'));
    writeFileSync(join(dir, 'agent.yml'), 'datacenter: dc1\n');
    expect(loadConfig({ configDir: dir }).warnings).toEqual([
      `${join(dir, 'conf.d', 'probe.yml')}:1: probe: unknown key, ignored`,
    ]);
  });

  it('refuses a misspelt definition kind at its line, and suggests the kind it resembles', () => {
    const definitionSchemas = { detector: Type.Object({ groups: Type.Array(Type.String()) }) };
    const dir = configDir({ 'agent.yml': 'datacenter: dc1\n' });
    const conf = (name: string) => join(dir, 'conf.d', name);
    writeFileSync(conf('a.yml'), '# web servers\ndetectr:\n  groups: [web]\n');
    writeFileSync(conf('b.yml'), 'groups: [x]\nDetectors:\n  groups: [db]\n');
    writeFileSync(conf('c.yml'), 'chek:\n  interval: 10s\nhandlers:\n  type: mail\n');
    writeFileSync(conf('d.yml'), '- detector:\n    groups: [a]\n- dectector:\n    groups: [b]\n- frob: {}\n');
    const errors = (() => {
      try {
        loadConfig({ configDir: dir, definitionSchemas });
      } catch (error) {
        return (error as ConfigErrors).errors.map((e) => e.message);
      }
      throw new Error('expected the configuration to be refused');
    })();
    expect(errors).toEqual([
      `${conf('a.yml')}:2: detectr: unknown definition kind: did you mean detector?`,
      `${conf('b.yml')}:2: Detectors: unknown definition kind: did you mean detector?`,
      `${conf('c.yml')}:1: chek: unknown definition kind: did you mean check? (which no subsystem of this build handles)`,
      `${conf('c.yml')}:3: handlers: unknown definition kind: did you mean handler? (which no subsystem of this build handles: the handlers (notifications) are not built yet)`,
      `${conf('d.yml')}:3: [1].dectector: unknown definition kind: did you mean detector?`,
      `${conf('d.yml')}:5: [2].frob: unknown definition kind (this build handles detector:)`,
    ]);
    // A key far from every kind is an unknown setting: a warning, as before.
    for (const name of ['a.yml', 'b.yml', 'c.yml', 'd.yml']) rmSync(conf(name));
    writeFileSync(conf('e.yml'), 'frobnicate: 1\ndetector:\n  groups: [web]\n');
    const loaded = loadConfig({ configDir: dir, definitionSchemas });
    expect(loaded.definitions.map((d) => d.kind)).toEqual(['detector']);
    expect(loaded.warnings).toEqual([`${conf('e.yml')}:1: frobnicate: unknown key, ignored`]);
  });

  it('reads the cluster key from encryption_key_file (relative to the config dir) and checks it', () => {
    const dir = configDir({ 'agent.yml': 'datacenter: dc1\nencryption_key_file: cluster.key\n' });
    const key = Buffer.alloc(32, 7).toString('base64');
    writeFileSync(join(dir, 'cluster.key'), `${key}\n`);
    expect(loadConfig({ configDir: dir }).settings.encryption_key).toBe(key);
    writeFileSync(join(dir, 'cluster.key'), 'short\n');
    expect(loadErrors(dir)).toEqual([
      `${join(dir, 'agent.yml')}:2: encryption_key_file: ${join(dir, 'cluster.key')} does not hold the base64 of 32 bytes, as printed by \`opsbro agent keygen\``,
    ]);
    rmSync(join(dir, 'cluster.key'));
    expect(loadErrors(dir)).toEqual([
      `${join(dir, 'agent.yml')}:2: encryption_key_file: cannot read ${join(dir, 'cluster.key')} (ENOENT: no such file)`,
    ]);
  });

  it('never echoes a secret in an error message', () => {
    const dir = configDir({
      'agent.yml': 'encryption_key: "not-a-key"\nauth:\n  tokens:\n    - name: ops\n      token: hunter2\n',
    });
    const file = join(dir, 'agent.yml');
    expect(loadErrors(dir)).toEqual([
      `${file}:1: encryption_key: expected the base64 of 32 bytes, as printed by \`opsbro agent keygen\`, got a value (hidden: it is a secret)`,
      `${file}:5: auth.tokens[0].token: expected a secret of at least 16 characters, got a value (hidden: it is a secret)`,
    ]);
  });

  it('locates cross-setting problems at the line that set the value in effect', () => {
    const dir = configDir({ 'agent.yml': 'api:\n  bind: 127.0.0.1\n' });
    writeFileSync(join(dir, 'conf.d', 'public.yml'), '# open it up\napi:\n  bind: 0.0.0.0\n');
    expect(loadErrors(dir)).toEqual([
      `${join(dir, 'conf.d', 'public.yml')}:3: api.bind: the HTTP API would listen on 0.0.0.0, beyond loopback, without authentication: add a token under auth.tokens (name and a secret of 16+ characters) or bind to 127.0.0.1`,
    ]);
    writeFileSync(join(dir, 'conf.d', 'public.yml'), 'api:\n  bind: 127.0.0.l\n');
    expect(loadErrors(dir)).toEqual([
      `${join(dir, 'conf.d', 'public.yml')}:2: api.bind: expected an IP address or localhost, got string "127.0.0.l"`,
    ]);
  });

  it('refuses DNS beyond loopback without authentication, and recursors that are not addresses', () => {
    const dir = configDir({
      'agent.yml':
        'dns:\n  bind: 0.0.0.0\n  recursors: [10.0.0.2, "[fd00::53]:5353", dns.example.com, "10.0.0.3:99999"]\n',
    });
    const file = join(dir, 'agent.yml');
    expect(loadErrors(dir)).toEqual([
      `${file}:2: dns.bind: DNS would listen on 0.0.0.0, beyond loopback, without authentication configured: add a token under auth.tokens (DESIGN.md: every listener beyond loopback alike) or bind to 127.0.0.1`,
      `${file}:3: dns.recursors[2]: expected a recursor's IP address, HOST or HOST:PORT (10.0.0.2, 10.0.0.2:53, [::1]:53), got string "dns.example.com"`,
      `${file}:3: dns.recursors[3]: expected a recursor's IP address, HOST or HOST:PORT (10.0.0.2, 10.0.0.2:53, [::1]:53), got string "10.0.0.3:99999"`,
    ]);
    // Off, it is not checked: nothing listens.
    writeFileSync(file, 'dns:\n  enabled: false\n  bind: 0.0.0.0\n');
    expect(loadConfig({ configDir: dir, env: () => undefined }).settings.dns).toMatchObject({
      enabled: false,
      bind: '0.0.0.0',
    });
  });

  it('refuses metric listeners beyond loopback without authentication, and retentions that cannot be', () => {
    const dir = configDir({
      'agent.yml': [
        'statsd:\n  bind: 0.0.0.0',
        'graphite:\n  bind: 10.1.2.3\n  forward: [carbon.example.com, "10.0.0.5:99999"]',
        'metrics:',
        '  retention: 10s:6h,15s:7d',
        '  rules:',
        '    - {pattern: "^app(", aggregation: max}',
        '    - {pattern: "^db", retention: "1m:1q"}',
        '',
      ].join('\n'),
    });
    const file = join(dir, 'agent.yml');
    expect(loadErrors(dir)).toEqual([
      `${file}:2: statsd.bind: statsd would listen on 0.0.0.0, beyond loopback, without authentication configured: add a token under auth.tokens (DESIGN.md: every listener beyond loopback alike) or bind to 127.0.0.1`,
      `${file}:4: graphite.bind: The graphite listener would listen on 10.1.2.3, beyond loopback, without authentication configured: add a token under auth.tokens (DESIGN.md: every listener beyond loopback alike) or bind to 127.0.0.1`,
      `${file}:5: graphite.forward[1]: expected a carbon server, HOST or HOST:PORT (graphite.example.com, 10.0.0.5:2003), got string "10.0.0.5:99999"`,
      `${file}:7: metrics.retention: retention "10s:6h,15s:7d": each step must be a multiple of the one before, and larger`,
      `${file}:9: metrics.rules[0].pattern: not a regular expression: Invalid regular expression: /^app(/: Unterminated group`,
      `${file}:10: metrics.rules[1].retention: retention "1m:1q": unknown unit q (s, m, h, d, w, y)`,
    ]);
  });

  it('shows unknown keys beside the errors they may explain', () => {
    const dir = configDir({
      'agent.yml': 'auth:\n  tokens:\n    - name: ops\n      tokn: abcdefghijklmnopq\n',
    });
    let thrown: ConfigErrors | undefined;
    try {
      loadConfig({ configDir: dir });
    } catch (error) {
      thrown = error as ConfigErrors;
    }
    const file = join(dir, 'agent.yml');
    expect(thrown?.errors.map((e) => e.message)).toEqual([
      `${file}:3: auth.tokens[0]: missing required key 'token'`,
    ]);
    expect(thrown?.warnings).toEqual([`${file}:4: auth.tokens[0].tokn: unknown key, ignored`]);
  });

  it('gives one message per key, and plain words for duplicates', () => {
    const dir = configDir({ 'agent.yml': 'api:\n  port: -1.5\ngroups: [web, db, web]\n' });
    const file = join(dir, 'agent.yml');
    expect(loadErrors(dir)).toEqual([
      `${file}:2: api.port: expected an integer, got number -1.5`,
      `${file}:3: groups: expected no duplicates, but items 0 and 2 are the same`,
    ]);
  });

  it('does not take built-in object property names for definition kinds', () => {
    const dir = configDir({ 'agent.yml': 'constructor: {}\ntoString: 5\n' });
    const { warnings, definitions } = loadConfig({ configDir: dir });
    expect(definitions).toEqual([]);
    expect(warnings).toEqual([
      `${join(dir, 'agent.yml')}:1: constructor: unknown key, ignored`,
      `${join(dir, 'agent.yml')}:2: toString: unknown key, ignored`,
    ]);
  });

  it('refuses an agent.yml that is a dangling link instead of starting on defaults', () => {
    const dir = configDir({});
    symlinkSync(join(dir, 'gone.yml'), join(dir, 'agent.yml'));
    expect(loadErrors(dir)).toEqual([`${join(dir, 'agent.yml')}: cannot read file (ENOENT: no such file)`]);
  });

  it('points an unclosed quote or bracket at the line that opens it; refuses several documents', () => {
    const cases: Array<[string, number, string]> = [
      ['datacenter: dc1\nnode_name: "web\ngroups: []\nlog: {}\n', 2, 'Missing closing "quote'],
      [
        'datacenter: dc1\ngroups: [web,\nnode_name: x\n',
        2,
        'Flow sequence in block collection must be sufficiently indented and end with a ]',
      ],
      [
        'datacenter: dc1\n---\ngroups: []\n',
        2,
        'expected one document, found a second one (a line with ---)',
      ],
    ];
    for (const [text, line, problem] of cases) {
      const dir = configDir({ 'agent.yml': text });
      expect(loadErrors(dir)).toEqual([`${join(dir, 'agent.yml')}:${line}: YAML syntax error: ${problem}`]);
    }
  });

  it('resolves a relative data_dir against the config dir', () => {
    const dir = configDir({ 'agent.yml': 'data_dir: state\n' });
    expect(loadConfig({ configDir: dir }).settings.data_dir).toBe(join(dir, 'state'));
  });

  it('reads definitions from packs; a pack of the same name in a later folder replaces the earlier', () => {
    const dir = configDir({ 'agent.yml': '' });
    const shipped = tempDir();
    const local = join(dir, 'packs');
    const write = (path: string, text: string) => {
      mkdirSync(join(path, '..'), { recursive: true });
      writeFileSync(path, text);
    };
    write(join(shipped, 'redis', 'detectors', 'redis.yml'), 'probe:\n  interval: 1\n');
    write(join(shipped, 'linux', 'checks', 'cpu.yml'), '- probe:\n    interval: 2\n');
    write(join(local, 'redis', 'detectors', 'redis.yml'), 'probe:\n  interval: 3\n');
    write(join(local, 'redis', 'notes', 'ignored.yml'), 'probe:\n  interval: 4\n');
    const definitionSchemas = { probe: Type.Object({ interval: Type.Integer() }) };
    const loaded = loadConfig({ configDir: dir, definitionSchemas, packDirs: [shipped, local] });
    expect(loaded.definitions.map((d) => [d.pack, d.body.interval])).toEqual([
      ['linux', 2],
      ['redis', 3],
    ]);

    write(join(local, 'redis', 'detectors', 'redis.yml'), 'probe:\n  interval: 3\ngroups: [x]\n');
    expect(() => loadConfig({ configDir: dir, definitionSchemas, packDirs: [shipped, local] })).toThrow(
      `${join(local, 'redis', 'detectors', 'redis.yml')}:3: groups: pack files hold definitions only (detector:, collector:, ...); put settings in agent.yml or conf.d`,
    );
    write(join(local, 'redis', 'detectors', 'redis.yml'), 'prob:\n  interval: 3\n');
    expect(() => loadConfig({ configDir: dir, definitionSchemas, packDirs: [shipped, local] })).toThrow(
      `${join(local, 'redis', 'detectors', 'redis.yml')}:1: prob: unknown definition kind: did you mean probe?`,
    );
  });
});
