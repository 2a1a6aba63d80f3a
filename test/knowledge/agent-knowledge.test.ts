// A real agent with the shipped packs on this machine: collectors read the live /proc, detectors
// put the node in groups (and gossip carries them), a failing or hanging collector is shown as
// ERROR while the others run on, and the CLI reads it all.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanupAll,
  freePort,
  httpGet,
  prepareAgentDirs,
  type RunningAgent,
  runCli,
  startAgent,
  tempDir,
} from '../helpers/agent-process.js';
import type { CollectorStatus } from '../../agent/shared/api-types.js';

const silent: Server = createServer((socket: Socket) => sockets.push(socket)); // accepts, never answers
const sockets: Socket[] = [];

afterAll(() => {
  for (const socket of sockets) socket.destroy();
  silent.close();
  cleanupAll();
});

/** Long enough for a 2 s collector to time out twice on a loaded CI machine. */
const POLL = { timeout: 15_000, interval: 200 };

describe('an agent with the shipped packs', () => {
  let agent: RunningAgent;
  let api: string;
  let closedPort: number;

  beforeAll(async () => {
    // A fixture root for the evaluator's file functions: an old CentOS (redhat-release, no
    // os-release); collectors still read the live /proc and /sys.
    const root = tempDir('opsbro-root-');
    mkdirSync(join(root, 'etc'), { recursive: true });
    writeFileSync(join(root, 'etc', 'redhat-release'), 'CentOS Linux release 7.9.2009 (Core)\n');
    closedPort = await freePort();
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentPort = (silent.address() as { port: number }).port;
    const dirs = await prepareAgentDirs(
      [
        'node_name: knowledge',
        'groups: [web]',
        `paths: {root: ${root}, proc: /proc, sys: /sys}`,
        // Nothing on the machine running the tests may make the app packs detect (or not) anything.
        `packs: {redis: {parameters: {port: ${closedPort}}}, mongodb: {parameters: {port: ${closedPort}}}}`,
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(dirs.configDir, 'conf.d', 'failing.yml'),
      [
        `- collector: {name: refused-redis, type: redis, interval: 1s, settings: {port: ${closedPort}}}`,
        `- collector: {name: hanging-redis, type: redis, interval: 2s, timeout: 1s, settings: {port: ${silentPort}}}`,
        '',
      ].join('\n'),
    );
    agent = await startAgent(dirs);
    api = `http://127.0.0.1:${dirs.port}`;
  });

  const get = async <T>(path: string): Promise<T> => JSON.parse((await httpGet(`${api}${path}`)).body) as T;

  it('is ok once every collector and detector has run, and the OS collectors are OK', async () => {
    const state = await get<{ state: string }>('/agent/state');
    expect(state.state).toBe('ok');
    const collectors = await get<CollectorStatus[]>('/agent/collectors');
    const byName = new Map(collectors.map((c) => [c.name, c]));
    for (const name of [
      'system',
      'uptime',
      'cpustats',
      'memory',
      'loadaverage',
      'diskusage',
      'networktraffic',
    ]) {
      expect(byName.get(name), name).toMatchObject({ state: 'OK' });
    }
    expect(byName.get('cpustats')).toMatchObject({ type: 'cpustats', pack: 'linux' });
    // No detector found redis (installed or listening) in the fixture root: not eligible, with why.
    expect(byName.get('redis')).toMatchObject({
      state: 'NOT-ELIGIBLE',
      message: 'this node is not in group redis',
    });
  });

  it('detects centos from /etc/redhat-release under the root path, and gossip carries the groups', async () => {
    const info = await get<{ groups: string[] }>('/agent/info');
    expect(info.groups).toEqual(expect.arrayContaining(['centos', 'linux', 'web']));
    const detectors = await get<{
      groups: string[];
      static_groups: string[];
      detectors: Array<Record<string, unknown>>;
    }>('/agent/detectors');
    expect(detectors.static_groups).toEqual(['web']);
    expect(detectors.detectors.find((d) => d.name === 'centos')).toMatchObject({
      pack: 'linux',
      rule: "grep('centos', '/etc/redhat-release')",
      last_result: true,
      groups_added: ['centos', 'linux'],
    });
    const members = JSON.parse(runCli(['gossip', 'members', '--json', '--api', api]).stdout) as Array<{
      name: string;
      groups: string[];
    }>;
    expect(members.find((m) => m.name === 'knowledge')?.groups).toEqual(
      expect.arrayContaining(['centos', 'linux', 'web']),
    );
  });

  it('shows a refused and a hanging collector as ERROR while the others run on', async () => {
    const stateOf = (list: CollectorStatus[], name: string) => list.find((c) => c.name === name);
    await expect
      .poll(async () => {
        const list = await get<CollectorStatus[]>('/agent/collectors');
        return [stateOf(list, 'refused-redis')?.state, stateOf(list, 'hanging-redis')?.state];
      }, POLL)
      .toEqual(['ERROR', 'ERROR']);
    const collectors = await get<CollectorStatus[]>('/agent/collectors');
    const refused = stateOf(collectors, 'refused-redis')!;
    const hanging = stateOf(collectors, 'hanging-redis')!;
    expect(refused.message).toMatch(/refused/i);
    expect(hanging.message).toMatch(/timed out after 1 s/);
    // Meanwhile the 1 s collector keeps being retried and cpustats keeps running.
    await expect
      .poll(
        async () => stateOf(await get<CollectorStatus[]>('/agent/collectors'), 'refused-redis')!.runs,
        POLL,
      )
      .toBeGreaterThan(refused.runs + 1);
    const cpustats = await get<CollectorStatus>('/agent/collectors/cpustats');
    expect(cpustats.state).toBe('OK');
  });

  it('CLI: collectors list/show, detectors list, evaluator eval/list, packs list/show', () => {
    const list = runCli(['collectors', 'list', '--api', api]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^NAME\s+PACK\s+EVERY\s+STATE\s+LAST RUN\s+TOOK/);
    expect(list.stdout).toMatch(/^cpustats\s+linux\s+10s\s+OK\s+\d+s ago\s+\d/m);

    const show = JSON.parse(runCli(['collectors', 'show', 'cpustats', '--json', '--api', api]).stdout) as {
      data: { cpuall: Record<string, number> };
    };
    expect(show.data.cpuall['%idle']).toBeGreaterThanOrEqual(0);
    expect(show.data.cpuall['%idle']).toBeLessThanOrEqual(100);

    const missing = runCli(['collectors', 'show', 'nosuch', '--api', api]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no collector named nosuch \(known: .*cpustats/);

    const detectors = runCli(['detectors', 'list', '--api', api]);
    expect(detectors.stdout).toMatch(
      /centos\s+linux\s+grep\('centos', '\/etc\/redhat-release'\)\s+true\s+centos,linux/,
    );
    expect(detectors.stdout).toMatch(/node groups: .*centos/);

    const evaluated = runCli([
      'evaluator',
      'eval',
      '{collector.cpustats.cpuall.%idle} + {collector.cpustats.cpuall.%user} <= 100.01',
      '--api',
      api,
    ]);
    expect(evaluated).toMatchObject({ code: 0, stdout: 'true\n' });
    const formatted = runCli([
      'evaluator',
      'eval',
      "'cpu %d%%' % {collector.system.cpu_count}",
      '--api',
      api,
    ]);
    expect(formatted.stdout).toMatch(/^cpu \d+%\n$/);
    const unknown = runCli(['evaluator', 'eval', '{collector.nosuch.value} > 1', '--api', api]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('unknown: collector.nosuch.value is not available');

    const functions = JSON.parse(runCli(['evaluator', 'list', '--json', '--api', api]).stdout) as Array<{
      name: string;
    }>;
    expect(functions.map((f) => f.name)).toEqual(
      expect.arrayContaining(['grep', 'file_exists', 'check_tcp', 'gossip_count_nodes']),
    );

    const packs = runCli(['packs', 'list', '--api', api]);
    for (const name of ['system', 'linux', 'redis', 'mongodb', 'nginx', 'rabbitmq', 'mysql'])
      expect(packs.stdout).toContain(name);
    const redis = JSON.parse(runCli(['packs', 'show', 'redis', '--json', '--api', api]).stdout) as Record<
      string,
      unknown
    >;
    expect(redis).toMatchObject({
      parameters: { host: '127.0.0.1', port: closedPort },
      defaults: { port: 6379 },
      overridden: ['port'],
      detectors: ['redis'],
      collectors: ['redis'],
    });
  });

  it('a reload of the unchanged configuration keeps every group: no groups change at all', async () => {
    interface Detectors {
      groups: string[];
      detectors: Array<{ name: string; state: string; last_run_at?: string }>;
    }
    const before = await get<Detectors>('/agent/detectors');
    expect(before.groups).toEqual(expect.arrayContaining(['centos', 'linux', 'web']));
    // A change of groups would reach gossip as a new incarnation of this node's record.
    const selfIncarnation = async () =>
      (await get<Array<{ self: boolean; incarnation: number }>>('/agent/members')).find(
        (member) => member.self,
      )!.incarnation;
    const incarnationBefore = await selfIncarnation();
    const logged = agent.output().length;
    const reloadedAt = new Date().toISOString();
    expect(runCli(['agent', 'reload', '--api', api]).code).toBe(0);
    // Every poll sees all the groups, until every new detector has run.
    await expect
      .poll(async () => {
        const now = await get<Detectors>('/agent/detectors');
        expect(now.groups).toEqual(before.groups);
        return (
          now.detectors.length > 0 &&
          now.detectors.every((d) => d.state !== 'PENDING' && (d.last_run_at ?? '') >= reloadedAt)
        );
      }, POLL)
      .toBe(true);
    // The pass ends a few promise callbacks after its last run, before the agent answers another
    // request: by now the groups were recomputed, once, and nothing reached gossip.
    expect((await get<Detectors>('/agent/detectors')).groups).toEqual(before.groups);
    expect(await selfIncarnation()).toBe(incarnationBefore);
    const afterReload = agent.output().slice(logged);
    expect(afterReload).toContain('configuration reloaded');
    expect(afterReload).not.toContain('node groups changed');
  });

  it('a detector added in conf.d applies after a reload and reaches gossip', async () => {
    writeFileSync(
      join(agent.dirs.configDir, 'conf.d', 'extra.yml'),
      "detector:\n  name: always\n  apply_if: \"gossip_count_nodes('web', 'alive') >= 1\"\n  groups: [reloaded]\n",
    );
    expect(runCli(['agent', 'reload', '--api', api]).code).toBe(0);
    await expect
      .poll(() => {
        const members = JSON.parse(runCli(['gossip', 'members', '--json', '--api', api]).stdout) as Array<{
          groups: string[];
        }>;
        return members[0]?.groups;
      }, POLL)
      .toContain('reloaded');
  });

  it('refuses a reload with a rule that does not parse, at the line of apply_if, and keeps running', () => {
    const file = join(agent.dirs.configDir, 'conf.d', 'broken.yml');
    writeFileSync(file, 'detector:\n  apply_if: "1 +"\n  groups: [x]\n');
    const reload = runCli(['agent', 'reload', '--api', api]);
    expect(reload.code).toBe(1);
    expect(reload.stderr.trim()).toBe(
      `opsbro: reload refused, the running configuration is kept: ${file}:2: detector broken: apply_if: column 4: ` +
        "expected a value (a number, a 'string', a {reference}, a function call or a '(' group) after '+', found the end of the expression",
    );
  });
});
