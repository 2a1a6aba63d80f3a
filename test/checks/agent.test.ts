// A real agent with a conf.d check, through the CLI and the HTTP API: checks list, show and run,
// the worst-of status, the override set and cleared (kept across a restart), the admin routes
// refused without a token, and a bad check definition refused at start and at reload.
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  CheckDetail,
  CheckRunAnswer,
  CheckStatus,
  NodeCheckTable,
  StatusAnswer,
} from '../../agent/shared/api-types.js';
import {
  cleanupAll,
  httpGet,
  prepareAgentDirs,
  runCli,
  type RunningAgent,
  startAgent,
  tempDir,
  type TestAgentDirs,
  WITHOUT_PACKS,
} from '../helpers/agent-process.js';
import { bashComplete } from '../helpers/completion.js';

afterAll(cleanupAll);

/** The check's state follows this file: there, CRITICAL; gone, OK. */
const flagDir = tempDir();
const FLAG = join(flagDir, 'down');

const CHECKS_YAML = `- check:
    name: service
    display_name: The service
    interval: 1h
    max_attempts: 1
    critical_if: "file_exists('${FLAG}')"
    critical_output: "'service is down'"
    ok_output: "'service is up'"
    handlers: [mail]
`;

describe('an agent with a conf.d check', () => {
  let dirs: TestAgentDirs;
  let agent: RunningAgent;
  /** The unix socket: admin, as root's CLI without --api. */
  let socket: string[];
  let tcp: string;

  const cli = (args: string[]) => runCli([...args, ...socket]);
  const json = <T>(args: string[]): T => {
    const result = cli([...args, '--json']);
    expect(result.stderr, args.join(' ')).toBe('');
    expect(result.code, `${args.join(' ')}: ${result.stdout}`).toBe(0);
    return JSON.parse(result.stdout) as T;
  };

  beforeAll(async () => {
    rmSync(FLAG, { force: true });
    dirs = await prepareAgentDirs(`node_name: checks-test\n${WITHOUT_PACKS}`);
    writeFileSync(join(dirs.configDir, 'conf.d', 'checks.yml'), CHECKS_YAML);
    agent = await startAgent(dirs);
    socket = ['--api', `unix:${join(dirs.dataDir, 'api.sock')}`];
    tcp = `http://127.0.0.1:${dirs.port}`;
  });

  it('checks run: the state, output and duration; exit 0 whatever the state', () => {
    const ok = json<CheckRunAnswer>(['checks', 'run', 'service']);
    expect(ok).toMatchObject({ name: 'service', state: 'ok', output: 'service is up', perfdata: [] });
    expect(ok.duration_ms).toBeGreaterThanOrEqual(0);

    writeFileSync(FLAG, '');
    const text = cli(['checks', 'run', 'service']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^CRITICAL: service is down\ntook [\d.]+ m?s\n$/);
  });

  it('checks list and status show the hard CRITICAL, megaphone style', () => {
    const statuses = json<CheckStatus[]>(['checks', 'list']);
    expect(statuses).toEqual([
      expect.objectContaining({
        name: 'service',
        display_name: 'The service',
        type: 'evaluated',
        state: 'critical',
        state_type: 'hard',
        output: 'service is down',
        handlers: ['mail'],
        interval_s: 3600,
        retry_interval_s: 720,
        source: `${join(dirs.configDir, 'conf.d', 'checks.yml')}:1`,
      }),
    ]);
    expect(json<CheckStatus[]>(['checks', 'list', '--state', 'ok,warning'])).toEqual([]);
    expect(cli(['checks', 'list']).stdout).toMatch(
      /^NAME +STATE +SINCE +LAST RUN +OUTPUT\nservice +CRITICAL +\d+s ago +\d+s ago +service is down\n$/,
    );

    const status = json<StatusAnswer>(['status']);
    expect(status).toMatchObject({
      status: 'CRITICAL',
      message: 'CRITICAL service: service is down',
      checks: [{ name: 'service', status: 'CRITICAL', state_type: 'hard', message: 'service is down' }],
    });
    expect(Date.parse(status.date)).not.toBeNaN();
    expect(cli(['status']).stdout).toMatch(/^status +CRITICAL\nmessage +CRITICAL service: service is down\n/);
  });

  it('checks show: state, recent results and the state changes from history', () => {
    const detail = json<CheckDetail>(['checks', 'show', 'service']);
    expect(detail.status).toMatchObject({ name: 'service', state: 'critical', last_hard_state: 'critical' });
    // Newest first (the check's own hourly run may have added one more of either).
    const outputs = detail.results.map((result) => result.output);
    expect(outputs[0]).toBe('service is down');
    expect(outputs.lastIndexOf('service is up')).toBeGreaterThan(outputs.indexOf('service is down'));
    expect(detail.changes.map(({ from, to, state_type }) => `${from}>${to} ${state_type}`)).toEqual([
      'ok>critical hard',
      'pending>ok hard',
    ]);
    const text = cli(['checks', 'show', 'service']).stdout;
    expect(text).toMatch(/^check +service \(The service\), type evaluated, every 3600s \(retry 720s\)\n/);
    expect(text).toMatch(
      /\nstate changes\nAT +FROM +TO +ATTEMPT +OUTPUT\n\S+ +OK +CRITICAL +1 +service is down\n/,
    );
    const unknown = cli(['checks', 'show', 'nothing']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe(
      'opsbro: no check named nothing on this node (known: service; see `opsbro checks list`)\n',
    );
  });

  it("bash completion offers this node's check names after checks show and checks run", () => {
    const complete = (words: string[]) => bashComplete(words, { OPSBRO_API: socket[1]! });
    expect(complete(['opsbro', 'checks', 'show', 'se'])).toEqual(['service']);
    expect(complete(['opsbro', 'checks', 'run', ''])).toContain('service');
    expect(complete(['opsbro', 'status', ''])).toEqual(expect.arrayContaining(['show', 'override', 'clear']));
  });

  it('checks list --all and --node: the tables as this node holds them', () => {
    const tables = json<NodeCheckTable[]>(['checks', 'list', '--all']);
    expect(tables).toEqual([
      expect.objectContaining({
        node: 'checks-test',
        checks: [expect.objectContaining({ name: 'service', state: 'critical', state_type: 'hard' })],
      }),
    ]);
    expect(json<NodeCheckTable>(['checks', 'list', '--node', 'checks-test']).node).toBe('checks-test');
    const missing = cli(['checks', 'list', '--node', 'elsewhere']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      /^opsbro: no check table for a node named elsewhere \(known: checks-test;/,
    );
    expect(cli(['checks', 'list', '--all', '--node', 'x']).code).toBe(2);
  });

  it('without a token, a loopback caller reads but may not run a check nor override (403)', async () => {
    expect((await httpGet(`${tcp}/status`)).status).toBe(200);
    expect((await httpGet(`${tcp}/monitoring/state`)).status).toBe(200);
    expect((await httpGet(`${tcp}/monitoring/checks/service`)).status).toBe(200);
    const refused = [
      await httpGet(`${tcp}/monitoring/checks/service/run`, { method: 'POST' }),
      await httpGet(`${tcp}/status/override`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ state: 'critical', reason: 'no' }),
      }),
      await httpGet(`${tcp}/status/override`, { method: 'DELETE' }),
    ];
    for (const reply of refused) {
      expect(reply.status).toBe(403);
      expect((JSON.parse(reply.body) as { error: string }).error).toMatch(/needs the admin role/);
    }
    expect(json<StatusAnswer>(['status']).override).toBeUndefined();
  });

  it('an override forces CRITICAL, survives a restart, and clears', async () => {
    rmSync(FLAG, { force: true });
    expect(json<CheckRunAnswer>(['checks', 'run', 'service']).state).toBe('ok');
    expect(json<StatusAnswer>(['status']).status).toBe('OK');

    const set = cli(['status', 'override', 'critical', '--reason', 'draining for maintenance']);
    expect(set.stdout).toBe('status overridden to CRITICAL: draining for maintenance\n');
    expect(json<StatusAnswer>(['status'])).toMatchObject({
      status: 'CRITICAL',
      override: { state: 'critical', reason: 'draining for maintenance' },
      message: expect.stringMatching(
        /^overridden to CRITICAL since \S+: draining for maintenance$/,
      ) as unknown,
    });
    expect(json<NodeCheckTable>(['checks', 'list', '--node', 'checks-test']).override).toMatchObject({
      reason: 'draining for maintenance',
    });

    agent.process.kill('SIGTERM');
    expect((await agent.exited).code).toBe(0);
    agent = await startAgent(dirs);
    expect(json<StatusAnswer>(['status'])).toMatchObject({
      status: 'CRITICAL',
      override: { reason: 'draining for maintenance' },
    });

    expect(cli(['status', 'clear']).stdout).toBe('override cleared\n');
    expect(json<StatusAnswer>(['status']).override).toBeUndefined();
    expect(cli(['status', 'clear']).stdout).toBe('no override was set\n');
    // A missing reason is the command line's mistake.
    expect(cli(['status', 'override', 'critical']).code).toBe(2);
    expect(cli(['status', 'override', 'warning', '--reason', 'x']).code).toBe(2);
  });

  it('a check definition that does not compile refuses the reload (the running checks stay) and the start', async () => {
    writeFileSync(
      join(dirs.configDir, 'conf.d', 'bad.yml'),
      'check:\n  name: broken\n  interval: 10s\n  warning_if: "{collector.load.load1} >> 2"\n',
    );
    const reload = cli(['agent', 'reload']);
    expect(reload.code).toBe(1);
    expect(reload.stderr).toMatch(/bad\.yml:4: check broken: warning_if: column \d+: /);
    expect(json<CheckStatus[]>(['checks', 'list']).map((status) => status.name)).toEqual(['service']);

    const other = await prepareAgentDirs(`node_name: checks-refused\n${WITHOUT_PACKS}`);
    writeFileSync(join(other.configDir, 'conf.d', 'bad.yml'), 'check:\n  interval: 10s\n');
    const start = runCli(['agent', 'start', '--config-dir', other.configDir, '--data-dir', other.dataDir]);
    expect(start.code).toBe(1);
    expect(start.stderr).toContain(
      `opsbro: config error: ${join(other.configDir, 'conf.d', 'bad.yml')}:1: check bad: type: no type: give type: (known: `,
    );
    rmSync(join(dirs.configDir, 'conf.d', 'bad.yml'));
  });
});
