// `opsbro targets` (skypunch's CLI) on two real agents in one cluster, each with the same http
// checks against a web server in its own process: the list with pass/fail counts, one target's
// counters (2xx..5xx, network failures, repeated failures), `test` printing the timed trace, and
// `disable`/`enable` applied on both nodes (the switch is one KV key), kept across a restart.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TargetStatus } from '../../agent/shared/api-types.js';
import { cleanupAll, freePort, runCli, startAgent, tempDir } from '../helpers/agent-process.js';
import { type GossipAgent, startGossipAgent, waitFor } from '../helpers/gossip-agents.js';

const BLOCK = 29;

/** A web server in its own process (the CLI's spawnSync would stall one in this process). */
function startServer(port: number): Promise<ChildProcess> {
  // /ok answers 200, /error 503, anything else 404.
  const script = `require('node:http').createServer((req, res) => {
    if (req.url === '/ok') return res.end('fine');
    if (req.url === '/error') { res.statusCode = 503; return res.end('busy'); }
    res.statusCode = 404; res.end('no');
  }).listen(${port}, '127.0.0.1', () => process.stdout.write('listening\\n'));`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve) => child.stdout.once('data', () => resolve(child)));
}

function confD(root: string, port: number, closedPort: number): void {
  const check = (name: string, url: string) =>
    `check:\n  name: ${name}\n  type: http\n  url: "${url}"\n  interval: 1s\n  max_attempts: 1\n`;
  writeFileSync(join(root, 'etc', 'conf.d', 'site.yml'), check('site', `http://127.0.0.1:${port}/ok`));
  writeFileSync(join(root, 'etc', 'conf.d', 'busy.yml'), check('busy', `http://127.0.0.1:${port}/error`));
  writeFileSync(join(root, 'etc', 'conf.d', 'gone.yml'), check('gone', `http://127.0.0.1:${closedPort}/`));
}

describe('opsbro targets', () => {
  let server: ChildProcess;
  const agents: GossipAgent[] = [];
  const roots: string[] = [];
  let port = 0;
  let closedPort = 0;

  const cli = (agent: GossipAgent, args: string[]) =>
    runCli([...args, '--api', `unix:${join(agent.dirs.dataDir, 'api.sock')}`]);
  const json = <T>(agent: GossipAgent, args: string[]): T => {
    const result = cli(agent, [...args, '--json']);
    expect(result.code, `${args.join(' ')}: ${result.stdout}${result.stderr}`).toBe(0);
    return JSON.parse(result.stdout) as T;
  };
  const targetsOf = (agent: GossipAgent) => json<TargetStatus[]>(agent, ['targets']);
  const enabledOn = (agent: GossipAgent, name: string) =>
    targetsOf(agent).find((t) => t.name === name)?.enabled;

  async function start(index: number): Promise<GossipAgent> {
    const seeds = index === 1 ? [] : [`127.${BLOCK}.0.1`];
    return startGossipAgent(BLOCK, index, { seeds }, roots[index - 1]);
  }

  beforeAll(async () => {
    port = await freePort();
    closedPort = await freePort();
    server = await startServer(port);
    for (let made = 0; made < 2; made++) {
      const root = tempDir();
      roots.push(root);
      // gossipAgentDirs() writes agent.yml into this root; conf.d is ours.
      mkdirSync(join(root, 'etc', 'conf.d'), { recursive: true });
      confD(root, port, closedPort);
    }
    agents.push(await start(1), await start(2));
    await waitFor(
      () =>
        Promise.resolve(
          targetsOf(agents[0]!).every(
            (target) => (target.counters?.pass ?? 0) + (target.counters?.fail ?? 0) >= 2,
          ),
        ),
      30_000,
      'two runs of every check',
    );
  }, 60_000);

  afterAll(() => {
    server?.kill('SIGKILL');
    cleanupAll();
  });

  it('lists every check with its state, last run, enabled and pass/fail counts', () => {
    const text = cli(agents[0]!, ['targets']).stdout;
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID +TYPE +STATUS +LAST CHECKED +ENABLED +PASS +FAIL$/);
    expect(lines.find((line) => line.startsWith('site '))).toMatch(
      /^site +http +OK +\S+ ago +yes +[1-9]\d* +0$/,
    );
    expect(lines.find((line) => line.startsWith('gone '))).toMatch(
      /^gone +http +CRITICAL +\S+ ago +yes +0 +[1-9]\d*$/,
    );
  });

  it("one target's counters: 2xx for site, 5xx for busy, network failures for gone; repeated failures", () => {
    const site = json<TargetStatus>(agents[0]!, ['targets', 'site']);
    expect(site.counters).toMatchObject({ fail: 0, repeated_fails: 0, network_fails: 0, http_5xx: 0 });
    expect(site.counters!.http_2xx).toBe(site.counters!.pass);
    const busy = json<TargetStatus>(agents[0]!, ['targets', 'busy']);
    expect(busy.counters).toMatchObject({ pass: 0, http_2xx: 0, network_fails: 0 });
    expect(busy.counters!.http_5xx).toBe(busy.counters!.fail);
    expect(busy.counters!.repeated_fails).toBe(busy.counters!.fail);
    const gone = json<TargetStatus>(agents[0]!, ['targets', 'gone']);
    expect(gone.counters!.network_fails).toBe(gone.counters!.fail);
    expect(gone.counters!.http_2xx + gone.counters!.http_5xx).toBe(0);
    const text = cli(agents[0]!, ['targets', 'busy']).stdout;
    expect(text).toMatch(/^5xx count +[1-9]\d*$/m);
    expect(text).toMatch(/^repeated fail count +[1-9]\d*$/m);
    expect(text).toMatch(/^enabled +yes$/m);
  });

  it('`targets gone test` runs it now and prints the timed trace', () => {
    const result = cli(agents[0]!, ['targets', 'gone', 'test']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^testing gone at /);
    expect(result.stdout).toMatch(/connect/);
    expect(result.stdout).toMatch(/^CRITICAL: GET http:\/\/127\.0\.0\.1:\d+\/: connect ECONNREFUSED/m);
  });

  it('disable on one node switches it off on both, kept across a restart; enable brings it back', async () => {
    const off = cli(agents[0]!, ['targets', 'busy', 'disable']);
    expect(off.stdout + off.stderr).toBe('target busy disabled on every node\n');
    expect(enabledOn(agents[0]!, 'busy')).toBe(false);
    // Off here at once: out of this node's table and its runs.
    const list = json<Array<{ name: string }>>(agents[0]!, ['checks', 'list']);
    expect(list.map((check) => check.name)).toEqual(['gone', 'site']);
    const refused = cli(agents[0]!, ['targets', 'busy', 'test']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/busy is switched off: `opsbro targets busy enable` first/);
    // The other node reads the switch once it hears of it (the writer's gossip record announces
    // the set's new KV index; the key's replicas see it applied), within a second.
    await waitFor(
      () => Promise.resolve(enabledOn(agents[1]!, 'busy') === false),
      20_000,
      'busy off on node 2',
    );

    // A restart keeps it off (the data dir's copy, then the KV).
    agents[1]!.process.kill('SIGTERM');
    await agents[1]!.exited;
    agents[1] = await startAgent(agents[1]!.dirs).then((running) => ({ ...agents[1]!, ...running }));
    expect(enabledOn(agents[1], 'busy')).toBe(false);

    expect(cli(agents[1], ['targets', 'busy', 'enable']).stdout).toBe('target busy enabled on every node\n');
    await waitFor(
      () => Promise.resolve(enabledOn(agents[0]!, 'busy') === true),
      20_000,
      'busy on again on node 1',
    );
    // A write to the key by another path (`opsbro kv put`, the Consul API) is heard too: the
    // key's replicas (both nodes here) see it applied.
    expect(cli(agents[1], ['kv', 'put', 'opsbro/checks/disabled', '["site"]']).code).toBe(0);
    await waitFor(
      () => Promise.resolve(enabledOn(agents[0]!, 'site') === false),
      20_000,
      'site off on node 1 after a KV write',
    );
    const unknown = cli(agents[0]!, ['targets', 'nothing', 'disable']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/no check named nothing on this node/);
  }, 90_000);
});
