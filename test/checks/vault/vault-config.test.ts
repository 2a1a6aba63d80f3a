// checks.vault in the agent's configuration and vault_<key>: in check definitions, as the agent
// loads them (what main's loadAgentConfig does: loadConfig, the Vault client, the checks' rules):
// a check that asks for Vault on an agent without Vault settings is refused at load with one line
// naming the file, the line and the key; the token stays hidden and unreadable to expressions; and
// through the checks subsystem, a value from Vault never reaches the history.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CheckDefinitionSchema } from '../../../agent/checks/definition.js';
import { MemoryCheckHistory } from '../../../agent/checks/memory-history.js';
import { IN_AGENT_SPAWNER } from '../../../agent/checks/nagios/spawn-in-agent.js';
import { OVERRIDE_FILE } from '../../../agent/checks/override-store.js';
import { CHECK_TYPES } from '../../../agent/checks/registry.js';
import { checkRuleErrors } from '../../../agent/checks/rules.js';
import type { CheckTime } from '../../../agent/checks/scheduler.js';
import { ChecksSubsystem } from '../../../agent/checks/subsystem.js';
import { VaultClient } from '../../../agent/checks/vault/client.js';
import { vaultClientOf } from '../../../agent/checks/vault/load.js';
import {
  ConfigErrors,
  hideSecrets,
  HIDDEN,
  isSecretKey,
  loadConfig,
  type LoadedConfig,
  RESTART_ONLY_SETTINGS,
} from '../../../agent/config/index.js';
import { evaluatorProtectedPaths } from '../../../agent/core/protected-paths.js';
import { planReload } from '../../../agent/core/reload.js';
import { Evaluator } from '../../../agent/evaluator/index.js';
import { EventBus } from '../../../agent/events/index.js';
import type { Logger } from '../../../agent/log/index.js';
import { fakeProviders } from '../../evaluator/helpers.js';
import { cleanupAll, tempDir } from '../../helpers/agent-process.js';
import { ManualTimers } from '../../helpers/manual-timers.js';
import { FakeVault } from './fake-vault.js';

const compiler = new Evaluator(fakeProviders());
afterAll(async () => {
  cleanupAll();
  await compiler.close();
});

const TOKEN = 'hvs.token-from-a-file-0123';
const DB_CHECK = `check:
  type: http
  url: http://127.0.0.1:1/health
  username: ops
  vault_password: db_password
`;

/** A config dir with agent.yml and conf.d files. */
function configDir(agentYml: string, confD: Record<string, string>): string {
  const dir = tempDir();
  mkdirSync(join(dir, 'conf.d'));
  writeFileSync(join(dir, 'agent.yml'), agentYml);
  writeFileSync(join(dir, 'vault-token'), `${TOKEN}\n`);
  for (const [name, text] of Object.entries(confD)) writeFileSync(join(dir, 'conf.d', name), text);
  return dir;
}

/** What main's loadAgentConfig does: the errors, as lines without the dir, and the config. */
function load(dir: string): { errors: string[]; config?: LoadedConfig; vault?: VaultClient } {
  const strip = (message: string) => message.replaceAll(`${dir}/`, '').replaceAll(dir, '<config-dir>');
  let config: LoadedConfig;
  try {
    config = loadConfig({
      configDir: dir,
      packDirs: [],
      definitionSchemas: { check: CheckDefinitionSchema },
    });
  } catch (error) {
    if (!(error instanceof ConfigErrors)) throw error;
    return { errors: error.errors.map((each) => strip(each.message)) };
  }
  const vault = vaultClientOf(config);
  const errors = [
    ...vault.errors,
    ...checkRuleErrors(config.definitions, {
      types: CHECK_TYPES,
      compile: (expression) => compiler.compile(expression),
      dependencies: {
        evaluator: compiler,
        nagiosPluginsDir: '/usr/lib/nagios/plugins',
        pluginSpawner: IN_AGENT_SPAWNER,
        vault: vault.client,
      },
      packs: config.packs,
    }),
  ];
  return { errors: errors.map((each) => strip(each.message)), config, vault: vault.client };
}

const VAULT_SETTINGS =
  'checks:\n  vault:\n    address: https://vault.example.com:8200\n    token_file: vault-token\n    path: opsbro/checks\n';

describe('loading checks.vault and vault_<key>:', () => {
  it('loads the settings with their defaults, the token read from token_file', () => {
    const { errors, config, vault } = load(configDir(VAULT_SETTINGS, { 'db.yml': DB_CHECK }));
    expect(errors).toEqual([]);
    expect(config!.settings.checks.vault).toEqual({
      address: 'https://vault.example.com:8200',
      token: '',
      token_file: 'vault-token',
      mount: 'secret',
      path: 'opsbro/checks',
      kv_version: 2,
      cache_ttl_s: 300,
    });
    expect(vault).toBeInstanceOf(VaultClient);
    expect(vault!.address).toBe('https://vault.example.com:8200');
    expect(vault!.defaultPath).toBe('opsbro/checks');
  });

  it('refuses a check with vault_<key>: when the agent has no Vault settings, naming file, line and key', () => {
    const { errors } = load(configDir('', { 'db.yml': DB_CHECK }));
    expect(errors).toEqual([
      'conf.d/db.yml:1: check db: vault_password: reads a value from Vault, but the agent has no Vault settings: give checks.vault in agent.yml (address, token or token_file, path; docs/checks-vault.md)',
    ]);
  });

  it('refuses the mistakes of vault_ keys at load', () => {
    const { errors } = load(
      configDir(VAULT_SETTINGS, {
        'both.yml': `${DB_CHECK}  password: plain\n`,
        'path-only.yml': 'check:\n  type: http\n  url: http://127.0.0.1:1/\n  vault_path: opsbro/x\n',
        'not-text.yml':
          'check:\n  type: http\n  url: http://127.0.0.1:1/\n  username: ops\n  vault_password: 42\n',
        'bad-path.yml': `${DB_CHECK}  vault_path: /opsbro/x/\n`,
        // The rest of the check is still judged by its type, a stand-in for the value.
        'rest.yml': `${DB_CHECK}  expected_status: 999\n`,
      }),
    );
    expect(errors).toEqual([
      "conf.d/bad-path.yml:1: check bad-path: vault_path: expected a secret's path under the mount, such as opsbro/db (no leading or trailing /)",
      'conf.d/both.yml:1: check both: password: and vault_password: both given: vault_password sets password from Vault, give one of them',
      'conf.d/not-text.yml:1: check not-text: vault_password: expected the name of a key of the Vault secret, e.g. vault_password: db_password',
      'conf.d/path-only.yml:1: check path-only: vault_path: no vault_<key>: reads from it (e.g. vault_password: db_password)',
      'conf.d/rest.yml:1: check rest: expected_status: "999" is not within 100-599, low to high',
    ]);
  });

  it("wants a secret path: checks.vault.path or the check's vault_path:", () => {
    const settings = 'checks:\n  vault:\n    token: hvs.inline-token-000\n';
    expect(load(configDir(settings, { 'db.yml': DB_CHECK })).errors).toEqual([
      'conf.d/db.yml:1: check db: vault_password: which Vault secret? give vault_path: (checks.vault.path is not set)',
    ]);
    expect(load(configDir(settings, { 'db.yml': `${DB_CHECK}  vault_path: teams/db\n` })).errors).toEqual([]);
  });

  it('refuses Vault settings that cannot work, without quoting the token', () => {
    const errors = (vault: string) => load(configDir(`checks:\n  vault:\n${vault}`, {})).errors;
    expect(errors('    path: x\n')).toEqual([
      '<config-dir>: checks.vault.token: a Vault token is required: token: or token_file: (a file holding it)',
    ]);
    expect(errors('    token_file: missing-file\n')).toEqual([
      '<config-dir>: checks.vault.token_file: cannot read missing-file (ENOENT: no such file)',
    ]);
    expect(errors('    token: hvs.secret-inline-token\n    token_file: vault-token\n')).toEqual([
      '<config-dir>: checks.vault.token_file: token: or token_file:, not both',
    ]);
    expect(errors('    token: hvs.secret-inline-token\n    address: https://user:pw@vault:8200\n')).toEqual([
      '<config-dir>: checks.vault.address: credentials in the address would be shown in messages; give the token in token: or token_file:',
    ]);
    const schema = errors(
      '    token: hvs.secret-inline-token\n    address: ftp://vault\n    kv_version: 3\n',
    );
    expect(schema.join('\n')).toContain('agent.yml:5: checks.vault.kv_version');
    expect(schema.join('\n')).toContain(
      'agent.yml:4: checks.vault.address: expected an http:// or https:// URL',
    );
    expect(schema.join('\n')).not.toContain('secret-inline-token');
  });

  it('the token is a secret; token_file is protected from expressions; a change needs a restart', () => {
    const dir = configDir(VAULT_SETTINGS, {});
    expect(isSecretKey('token')).toBe(true);
    expect(isSecretKey('token_file')).toBe(false);
    expect(hideSecrets({ checks: { vault: { token: 'hvs.abc', token_file: 'vault-token' } } })).toEqual({
      checks: { vault: { token: HIDDEN, token_file: 'vault-token' } },
    });
    const { config } = load(dir);
    // Outside the config dir too: a token file in /run/secrets is protected by its own path.
    const outside = tempDir();
    writeFileSync(join(outside, 'token'), TOKEN);
    const elsewhere = {
      ...config!,
      settings: {
        ...config!.settings,
        checks: {
          ...config!.settings.checks,
          vault: { ...config!.settings.checks.vault!, token_file: join(outside, 'token') },
        },
      },
    };
    expect(evaluatorProtectedPaths(elsewhere, '/var/lib/opsbro')).toContainEqual({
      path: join(outside, 'token'),
      what: 'the Vault token file (checks.vault.token_file)',
    });
    expect(RESTART_ONLY_SETTINGS).toContain('checks.vault');
    const next = {
      ...config!,
      settings: {
        ...config!.settings,
        checks: { ...config!.settings.checks, vault: { ...config!.settings.checks.vault!, path: 'other' } },
      },
    };
    expect(planReload(config!, next).restartRequired).toEqual(['checks.vault.path']);
  });
});

describe('through the checks subsystem', () => {
  const servers: Server[] = [];
  const subsystems: ChecksSubsystem[] = [];
  const vaults: FakeVault[] = [];
  afterEach(async () => {
    for (const subsystem of subsystems.splice(0)) await subsystem.stop();
    for (const vault of vaults.splice(0)) await vault.stop();
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  /** A subsystem on manual time with the definitions of `dir`, and what it logged. */
  function subsystem(config: LoadedConfig, vault: VaultClient | undefined, time: CheckTime) {
    const logged: Array<{ message: string; fields: Record<string, unknown> }> = [];
    const log = (message: string, fields: Record<string, unknown> = {}) => logged.push({ message, fields });
    const logger = { error: log, warn: log, info: log, debug: log } as unknown as Logger;
    const history = new MemoryCheckHistory();
    const checks = new ChecksSubsystem({
      definitions: config.definitions,
      packs: [],
      types: CHECK_TYPES,
      dependencies: {
        evaluator: compiler,
        nagiosPluginsDir: '/usr/lib/nagios/plugins',
        pluginSpawner: IN_AGENT_SPAWNER,
        vault,
      },
      history,
      events: new EventBus(),
      logger,
      node: { name: 'node-1', id: 'id-1', hostname: 'host-1', address: () => '127.0.0.1' },
      groups: () => [],
      overrideFile: join(tempDir(), OVERRIDE_FILE),
      time,
    });
    subsystems.push(checks);
    return { checks, logged, history };
  }

  function manualTime(): CheckTime {
    const timers = new ManualTimers();
    return {
      timers,
      now: () => Date.parse('2026-12-05T00:00:00Z') + timers.now,
      monotonicNow: () => timers.now,
    };
  }

  it('a check with vault_<key>: is not built without a Vault, and says why', async () => {
    const { config } = load(configDir(VAULT_SETTINGS, { 'db.yml': DB_CHECK }));
    const { checks, logged } = subsystem(config!, undefined, manualTime());
    await checks.start();
    expect(checks.names()).toEqual([]);
    expect(logged).toContainEqual({
      message: 'check refused by its type, skipped',
      fields: {
        check: 'db',
        error:
          'vault_password: reads a value from Vault, but the agent has no Vault settings: give checks.vault in agent.yml (address, token or token_file, path; docs/checks-vault.md)',
      },
    });
  });

  it('runs with the value from Vault; the result recorded in history never holds it', async () => {
    const secret = 'sup3r-s3cret-value';
    const vault = new FakeVault().mount('secret', 2);
    vault.token = TOKEN;
    vault.put('secret', 'opsbro/checks', { db_password: secret });
    vaults.push(await vault.start());
    const server = createServer((request, response) => {
      const given = Buffer.from((request.headers.authorization ?? '').slice(6), 'base64').toString();
      response.end(JSON.stringify({ message: `hello ${given}` }));
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const dir = configDir(VAULT_SETTINGS.replace('https://vault.example.com:8200', vault.address), {
      'db.yml':
        DB_CHECK.replace('http://127.0.0.1:1/health', url) + '  conditions: ["[BODY].message == bye"]\n',
    });
    const { errors, config } = load(dir);
    expect(errors).toEqual([]);
    const time = manualTime();
    const client = vaultClientOf(config!, { time }).client!;
    const { checks, history } = subsystem(config!, client, time);
    await checks.start();
    const answer = await checks.runNow('db');
    expect(answer).toMatchObject({ name: 'db', state: 'critical' });
    expect(answer!.output).toBe(`GET ${url}: condition failed: [BODY].message (hello ops:***) == bye`);
    const recorded = await history.recentResults('db', 10);
    expect(recorded).toHaveLength(1);
    expect(JSON.stringify([recorded, checks.statuses(), checks.localTable()])).not.toContain(secret);
    expect(vault.requests).toEqual([{ method: 'GET', url: '/v1/secret/data/opsbro/checks', token: TOKEN }]);
    await client.close();
  });
});
