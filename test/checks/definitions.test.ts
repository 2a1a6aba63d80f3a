// `check:` definitions as the agent loads them (agent/checks/definition.ts, rules.ts): DESIGN.md's
// examples load as written, defaults are filled, and every mistake is one config error naming the
// file, the line and the key.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckDefinitionSchema, checkTiming, type CheckDefinition } from '../../agent/checks/definition.js';
import { CHECK_TYPES } from '../../agent/checks/registry.js';
import { checkRuleErrors } from '../../agent/checks/rules.js';
import { ConfigErrors, definitionBody, loadConfig, type LoadedConfig } from '../../agent/config/index.js';
import { Evaluator } from '../../agent/evaluator/index.js';
import { fakeProviders } from '../evaluator/helpers.js';
import { CHECK_YAML, SCRIPT_CHECK_YAML } from '../fixtures/design-examples.js';
import { cleanupAll, tempDir } from '../helpers/agent-process.js';
import { IN_AGENT_SPAWNER } from '../../agent/checks/nagios/spawn-in-agent.js';

afterAll(cleanupAll);

const compiler = new Evaluator(fakeProviders());

/** Loads `files` as conf.d; the loader's errors, then the checks' rules, as messages without the dir. */
function load(files: Record<string, string>): { config?: LoadedConfig; errors: string[]; dir: string } {
  const dir = tempDir();
  mkdirSync(join(dir, 'conf.d'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, 'conf.d', name), text);
  const strip = (message: string) => message.replace(`${dir}/`, '');
  let config: LoadedConfig;
  try {
    config = loadConfig({
      configDir: dir,
      packDirs: [],
      definitionSchemas: { check: CheckDefinitionSchema },
    });
  } catch (error) {
    if (!(error instanceof ConfigErrors)) throw error;
    return { errors: error.errors.map((each) => strip(each.message)), dir };
  }
  const errors = checkRuleErrors(config.definitions, {
    types: CHECK_TYPES,
    compile: (expression) => compiler.compile(expression),
    dependencies: {
      evaluator: compiler,
      nagiosPluginsDir: '/usr/lib/nagios/plugins',
      pluginSpawner: IN_AGENT_SPAWNER,
    },
    packs: config.packs,
  });
  return { config, errors: errors.map((each) => strip(each.message)), dir };
}

function body(config: LoadedConfig | undefined, name: string): CheckDefinition {
  const definition = config?.definitions.find((each) => each.kind === 'check' && each.name === name);
  if (!definition) throw new Error(`no check ${name}`);
  return definitionBody(definition, CheckDefinitionSchema);
}

describe("DESIGN.md's checks", () => {
  it('the cpu check loads as written, named after its file, with the defaults filled', () => {
    const { config, errors } = load({ 'cpu.yml': CHECK_YAML });
    expect(errors).toEqual([]);
    const cpu = body(config, 'cpu');
    expect(cpu).toMatchObject({
      interval: '10s',
      if_group: 'linux',
      handlers: ['mail', 'slack'],
      thresholds: { cpuidle: { warning: 5, critical: 1 } },
      max_attempts: 3,
      timeout: '30s',
      enabled: true,
    });
    // A fifth of the interval while a problem is soft.
    expect(checkTiming(cpu)).toEqual({ intervalMs: 10_000, retryIntervalMs: 2000, timeoutMs: 30_000 });
  });

  it('the mailq script check loads as written; script: implies its type', () => {
    const { config, errors } = load({ 'mailq.yml': SCRIPT_CHECK_YAML });
    expect(errors).toEqual([]);
    const mailq = body(config, 'mailq');
    expect(mailq).toMatchObject({ interval: '60s', mailq: { warning: 1, critical: 2 }, max_attempts: 3 });
    expect(checkTiming(mailq)).toEqual({ intervalMs: 60_000, retryIntervalMs: 12_000, timeoutMs: 30_000 });
  });

  it('a short interval retries every second at least; an explicit retry_interval is kept', () => {
    const { config, errors } = load({
      'timing.yml': [
        '- check: {name: fast, interval: 2s, critical_if: "1 > 2"}',
        '- check: {name: explicit, interval: 5m, retry_interval: 30s, timeout: 2m, critical_if: "1 > 2"}',
        '',
      ].join('\n'),
    });
    expect(errors).toEqual([]);
    expect(checkTiming(body(config, 'fast')).retryIntervalMs).toBe(1000);
    expect(checkTiming(body(config, 'explicit'))).toEqual({
      intervalMs: 300_000,
      retryIntervalMs: 30_000,
      timeoutMs: 120_000,
    });
  });
});

describe('a mistake is a config error naming file, line and key', () => {
  const cases: Array<[string, string, string]> = [
    [
      'a duration that is not one',
      'check:\n  critical_if: "1 > 2"\n  interval: often\n',
      'conf.d/x.yml:3: check.interval: expected a duration such as 10s, 500ms, 2m, 1h or a number of seconds, got string "often"',
    ],
    [
      'max_attempts below 1',
      'check:\n  critical_if: "1 > 2"\n  max_attempts: 0\n',
      'conf.d/x.yml:3: check.max_attempts: expected a number >= 1, got number 0',
    ],
    [
      'handlers that are not a list',
      'check:\n  critical_if: "1 > 2"\n  handlers: mail\n',
      'conf.d/x.yml:3: check.handlers: expected a list, got string "mail"',
    ],
    [
      'no key that says the type',
      'check:\n  interval: 10s\n  thresholds: {load: 2}\n',
      'conf.d/x.yml:1: check x: type: no type: give type: (known: aws_ec2, celery, elasticsearch, evaluated, http, json_status, kubernetes, mongodb, script), or critical_if or warning_if: for evaluated, script: for script',
    ],
    [
      'an unknown type',
      'check:\n  interval: 10s\n  type: htpp\n',
      'conf.d/x.yml:3: check x: type: unknown check type "htpp" (known: aws_ec2, celery, elasticsearch, evaluated, http, json_status, kubernetes, mongodb, script)',
    ],
    [
      'keys of two types',
      'check:\n  script: /bin/true\n  critical_if: "1 > 2"\n',
      'conf.d/x.yml:1: check x: type: both critical_if: (evaluated) and script: (script): say which with type:',
    ],
    [
      'an evaluated check with no condition',
      'check:\n  type: evaluated\n  ok_output: "\'fine\'"\n',
      'conf.d/x.yml:2: check x: type: evaluated: an evaluated check needs critical_if or warning_if (or both)',
    ],
    [
      'a condition that is not a string',
      'check:\n  interval: 10s\n  critical_if: [1, 2]\n',
      'conf.d/x.yml:3: check x: critical_if: evaluated: critical_if: must be string',
    ],
    [
      'a syntax error in critical_if, with the column',
      'check:\n  interval: 10s\n  critical_if: "{collector.load.load1} > 2 adn 1"\n',
      "conf.d/x.yml:3: check x: critical_if: column 28: expected an operator (and, or, ==, ...) or the end of the expression after '2', found 'adn' (did you mean 'and'?)",
    ],
    [
      'a syntax error in an output expression',
      'check:\n  warning_if: "1 > 2"\n  warning_output: "\'load %s\' %% "\n',
      "conf.d/x.yml:3: check x: warning_output: column 12: expected a value (a number, a 'string', a {reference}, a function call or a '(' group) after '%', found '%'",
    ],
    [
      'an unknown function in warning_if',
      'check:\n  warning_if: "lod_average() > 2"\n',
      "conf.d/x.yml:2: check x: warning_if: column 1: unknown function 'lod_average()'",
    ],
  ];

  it.each(cases)('%s', (_what, yaml, expected) => {
    const { errors } = load({ 'x.yml': yaml });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(new RegExp(`^${escape(expected)}`));
  });

  it('a name from a file name that cannot name a check asks for name:', () => {
    expect(load({ 'my check.yml': 'check:\n  critical_if: "1 > 2"\n' }).errors).toEqual([
      'conf.d/my check.yml:1: check my check: name: a check name is letters, digits, _ . - (it comes from the file name when there is no name: key): give it a name:',
    ]);
  });

  it('each definition of a list file is checked on its own, at its own lines', () => {
    const { errors } = load({
      'list.yml': [
        '- check:',
        '    name: good',
        '    critical_if: "1 > 2"',
        '- check:',
        '    name: bad',
        '    critical_if: "1 >"',
        '- check:',
        '    name: typeless',
        '    interval: 5s',
        '',
      ].join('\n'),
    });
    expect(errors).toEqual([
      "conf.d/list.yml:6: check bad: critical_if: column 4: expected a value (a number, a 'string', a {reference}, a function call or a '(' group) after '>', found the end of the expression",
      expect.stringMatching(/^conf\.d\/list\.yml:7: check typeless: type: no type/) as unknown,
    ]);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
