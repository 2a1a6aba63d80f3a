// What the commands show an operator: agent info (listeners, members, key, warnings, left), gossip
// members (this node, --status, SINCE), detect (members marked), stats, collectors (time ago, TOOK,
// units), version, key install from a file or stdin, and stop on a stopped agent. Real agents.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DetectResult } from '../../agent/shared/api-types.js';
import { unitOf, withUnit } from '../../cli/units.js';
import {
  cleanupAll,
  freePort,
  OPSBRO_BIN,
  prepareAgentDirs,
  runCli,
  startAgent,
  tempDir,
  type TestAgentDirs,
  WITHOUT_PACKS,
} from '../helpers/agent-process.js';
import { waitFor } from '../helpers/gossip-agents.js';

afterAll(cleanupAll);

/** The gossip port the agent bound (it picks a free one: agent.yml asks for port 0). */
function gossipPort(agent: { api: string }): number {
  const info = JSON.parse(runCli(['agent', 'info', '--json', '--api', agent.api]).stdout) as {
    ports: { gossip: number };
  };
  return info.ports.gossip;
}

describe('two agents, one of which leaves', () => {
  let first: { dirs: TestAgentDirs; api: string };
  let second: { dirs: TestAgentDirs; api: string };
  let fingerprint: string;

  beforeAll(async () => {
    const key = runCli(['agent', 'keygen']).stdout.trim();
    const start = async (name: string) => {
      const dirs = await prepareAgentDirs(`node_name: ${name}\nencryption_key: "${key}"\n${WITHOUT_PACKS}`);
      // A warning, in full in agent info: an override for a pack that does not exist.
      writeFileSync(
        join(dirs.configDir, 'conf.d', 'warn.yml'),
        'packs:\n  nosuchpack:\n    enabled: false\n',
      );
      writeFileSync(
        join(dirs.configDir, 'conf.d', 'collectors.yml'),
        '- collector: {name: memory, type: memory, interval: 60s}\n- collector: {name: load, type: loadaverage, interval: 60s}\n',
      );
      await startAgent(dirs);
      return { dirs, api: `unix:${join(dirs.dataDir, 'api.sock')}` };
    };
    [first, second] = await Promise.all([start('view-one'), start('view-two')]);
    fingerprint = (
      JSON.parse(runCli(['gossip', 'keys', 'list', '--json', '--api', first.api]).stdout) as {
        primary: string;
      }
    ).primary;
    const joined = runCli(['gossip', 'join', `127.0.0.1:${gossipPort(first)}`, '--api', second.api]);
    expect(joined.stdout).toBe('joined the cluster through 1 of 1 address(es)\n');
    const left = runCli(['gossip', 'leave', '--api', second.api]);
    expect(left.stdout).toBe('left the cluster\n');
    await waitFor(
      () =>
        Promise.resolve(
          runCli(['gossip', 'members', '--status', 'left', '--json', '--api', first.api]).stdout.includes(
            'view-two',
          ),
        ),
      10_000,
      'view-one sees view-two left',
    );
  });

  it('agent info: listeners, member counts, the key fingerprint, warnings in full', () => {
    const { stdout, code } = runCli(['agent', 'info', '--api', first.api]);
    expect(code).toBe(0);
    const port = gossipPort(first);
    expect(stdout).toMatch(
      new RegExp(`^Gossip {6}127\\.0\\.0\\.1:${port}, advertises 127\\.0\\.0\\.1:${port} \\(UDP\\)$`, 'm'),
    );
    expect(stdout).toMatch(/^RPC {9}127\.0\.0\.1:\d+, advertises 127\.0\.0\.1:\d+ \(TCP\)$/m);
    expect(stdout).toMatch(/^Members {5}1 alive, 0 suspect, 0 dead, 1 left$/m);
    expect(stdout).toContain(`Encryption  enabled, primary key ${fingerprint}\n`);
    expect(stdout).toMatch(
      /^Warnings {4}.*warn\.yml:\d+: packs\.nosuchpack: no pack of that name, ignored$/m,
    );
    expect(stdout).toMatch(/^Interfaces {2}/m);
  });

  it('agent info on the node that left: state left, and how to come back', () => {
    const { stdout } = runCli(['agent', 'info', '--api', second.api]);
    expect(stdout).toMatch(
      /^State {7}left: this node left the cluster \(`opsbro gossip join HOST` joins it again\)$/m,
    );
    expect(
      (JSON.parse(runCli(['agent', 'info', '--json', '--api', second.api]).stdout) as { state: string })
        .state,
    ).toBe('left');
  });

  it('gossip members: this node marked, SINCE for members not alive, --status and names filter', () => {
    const all = runCli(['gossip', 'members', '--api', first.api]).stdout.split('\n');
    expect(all[0]).toMatch(/^NAME +ADDRESS +STATE +SINCE +DC +GROUPS$/);
    expect(all[1]).toMatch(/^view-one \(this node\) +127\.0\.0\.1:\d+ +alive +- +dc1 +-$/);
    expect(all[2]).toMatch(/^view-two +127\.0\.0\.1:\d+ +left +\d+s ago +dc1 +-$/);

    const alive = runCli(['gossip', 'members', '--status', 'alive,suspect', '--api', first.api]).stdout;
    // Only alive members: nothing to say in a SINCE column.
    expect(alive).toMatch(/^NAME +ADDRESS +STATE +DC +GROUPS\nview-one \(this node\) .* alive +dc1 +-\n$/);
    const left = JSON.parse(
      runCli(['gossip', 'members', '--status', 'left', '--json', '--api', first.api]).stdout,
    ) as Array<{
      name: string;
      self: boolean;
      since: string;
    }>;
    expect(left.map((member) => member.name)).toEqual(['view-two']);
    expect(Date.parse(left[0]!.since)).toBeLessThanOrEqual(Date.now());
    const named = runCli(['gossip', 'members', 'view-two', '--api', first.api]).stdout;
    expect(named.split('\n').filter(Boolean)).toHaveLength(2);
    const unknown = runCli(['gossip', 'members', 'nobody', '--api', first.api]);
    expect(unknown).toMatchObject({
      code: 1,
      stderr: 'opsbro: no member named nobody (see `opsbro gossip members`)\n',
    });
    expect(runCli(['gossip', 'members', '--status', 'dead', '--api', first.api]).stdout).toBe(
      'no member is dead\n',
    );
  });

  it('gossip stats: packets and bytes each way, drops by reason', () => {
    const { stdout, code } = runCli(['gossip', 'stats', '--api', first.api]);
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^DIRECTION +PACKETS +BYTES\nin +[1-9]\d* +\d+(\.\d)? (B|KiB|MiB)\nout +[1-9]\d* +/,
    );
    expect(stdout).toMatch(/^decrypt +0 +no installed key opens it: a node with another cluster key$/m);
    expect(stdout).toContain('\nsocket errors: none\n');
    expect(stdout).toMatch(/^membership gaps repaired by push-pull: \d+$/m);
    const json = JSON.parse(runCli(['gossip', 'stats', '--json', '--api', first.api]).stdout) as {
      packetsIn: number;
    };
    expect(json.packetsIn).toBeGreaterThan(0);
  });

  it('collectors list: LAST RUN as a time ago, TOOK, the type only where it is not the name', () => {
    const lines = runCli(['collectors', 'list', '--api', first.api]).stdout.split('\n');
    expect(lines[0]).toMatch(/^NAME +PACK +EVERY +STATE +LAST RUN +TOOK +MESSAGE$/);
    expect(lines).toContainEqual(expect.stringMatching(/^memory +- +60s +OK +\d+s ago +\d+(\.\d+)? ms$/));
    expect(lines).toContainEqual(
      expect.stringMatching(/^load \(loadaverage\) +- +60s +OK +\d+s ago +\d+(\.\d+)? ms$/),
    );
  });

  it('collectors show: the value expressions read, then its unit', () => {
    const { stdout } = runCli(['collectors', 'show', 'memory', '--api', first.api]);
    expect(stdout).toMatch(
      /^collector {2}memory \(type memory, every 60s\)\nstate {6}OK\nlast run {3}\d+s ago \(.*\), took /,
    );
    expect(stdout).toMatch(/^ {2}phys_total = \d+ B \(\d+\.\d (MiB|GiB|TiB)\)$/m);
    expect(stdout).toMatch(/^ {2}phys_used = \d+(\.\d+)? %$/m);
    expect(stdout).toMatch(/^ {2}meminfo\.HugePages_Total = \d+$/m);
    const load = runCli(['collectors', 'show', 'load', '--api', first.api]).stdout;
    expect(load).toMatch(/^ {2}load1 = \d+(\.\d+)?$/m);
  });

  it('version: this command, node, and the agent when one answers', async () => {
    const shown = runCli(['version', '--api', first.api]).stdout;
    expect(shown).toMatch(
      new RegExp(
        `^opsbro {2}\\d+\\.\\d+\\.\\d+\\nnode {4}${process.version} \\(${process.platform} ${process.arch}\\)\\nagent {3}\\d+\\.\\d+\\.\\d+ \\(view-one at unix:.*\\)\\n$`,
      ),
    );
    const api = `http://127.0.0.1:${await freePort()}`;
    const alone = runCli(['version', '--api', api]);
    expect(alone.code).toBe(0);
    expect(alone.stdout).toContain(`agent   none answers at ${api}\n`);
    expect(JSON.parse(runCli(['version', '--json', '--api', api]).stdout)).toMatchObject({ agent: null });
  });

  it('gossip keys install from a file, from stdin, and (shown in ps) as an argument', () => {
    const file = join(tempDir(), 'key');
    const fromFile = runCli(['agent', 'keygen']).stdout;
    writeFileSync(file, fromFile);
    const installed = runCli(['gossip', 'keys', 'install', '--file', file, '--api', first.api]);
    expect(installed.stdout).toMatch(/^install: [0-9a-f]{16} \(gossiped to the cluster\)\n$/);

    const fromStdin = spawnSync(
      process.execPath,
      [OPSBRO_BIN, 'gossip', 'keys', 'install', '--file', '-', '--json', '--api', first.api],
      {
        input: runCli(['agent', 'keygen']).stdout,
        encoding: 'utf8',
        env: { ...process.env, OPSBRO_API: '' },
      },
    );
    expect(fromStdin.stderr).toBe('');
    expect(JSON.parse(fromStdin.stdout)).toMatchObject({ op: 'install' });

    const positional = runCli([
      'gossip',
      'keys',
      'install',
      runCli(['agent', 'keygen']).stdout.trim(),
      '--api',
      first.api,
    ]);
    expect(positional.code).toBe(0);

    const keys = JSON.parse(runCli(['gossip', 'keys', 'list', '--json', '--api', first.api]).stdout) as {
      keys: unknown[];
    };
    expect(keys.keys).toHaveLength(4);

    writeFileSync(file, 'not a key at all\n');
    expect(runCli(['gossip', 'keys', 'install', '--file', file, '--api', first.api])).toMatchObject({
      code: 1,
      stderr: `opsbro: ${file}: expected one base64 key, as \`opsbro agent keygen\` prints it\n`,
    });
  });
});

describe('agent stop on a stopped agent', () => {
  it('says it is not running and succeeds (exit 0), as `systemctl stop` does', async () => {
    const api = `http://127.0.0.1:${await freePort()}`;
    const result = runCli(['agent', 'stop', '--api', api]);
    expect(result).toEqual({
      code: 0,
      stdout: `the agent is not running (nothing answers at ${api})\n`,
      stderr: '',
    });
    const socket = `unix:${join(tempDir(), 'api.sock')}`;
    expect(JSON.parse(runCli(['agent', 'stop', '--json', '--api', socket]).stdout)).toEqual({
      stopped: true,
      already_stopped: true,
      api: socket,
    });
  });
});

describe('gossip detect', () => {
  // Detection answers only over a real LAN broadcast (test/gossip/detect-netns.test.ts runs it in
  // network namespaces); here an HTTP server answers as the agent would, to check the table.
  let server: Server;
  let api: string;
  beforeAll(async () => {
    const answer: DetectResult = {
      nodes: [
        {
          name: 'db-1',
          id: 'id-1',
          address: '10.0.0.5',
          port: 6768,
          datacenter: 'dc1',
          groups: ['db'],
          member: true,
        },
        {
          name: 'web-9',
          id: 'id-9',
          address: '10.0.0.9',
          port: 6768,
          datacenter: 'dc1',
          groups: [],
          member: false,
        },
      ],
      joined: null,
    };
    server = createServer((request, response) => {
      response.setHeader('Content-Type', 'application/json');
      response.end(JSON.stringify(request.url === '/agent/detect' ? answer : { error: 'not found' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('marks the nodes that are already members', async () => {
    // Not spawnSync: this process must stay free to answer.
    const child = spawn(
      process.execPath,
      [OPSBRO_BIN, 'gossip', 'detect', '--timeout', '0.1', '--api', api],
      {
        env: { ...process.env, NO_COLOR: '1' },
      },
    );
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(code).toBe(0);
    expect(stdout).toBe(
      [
        'NAME   ADDRESS        MEMBER   DC   GROUPS  ID',
        'db-1   10.0.0.5:6768  already  dc1  db      id-1',
        'web-9  10.0.0.9:6768  no       dc1  -       id-9',
        '',
      ].join('\n'),
    );
  });
});

describe('units of collector values', () => {
  it('follow docs/collectors.md by collector type and key', () => {
    expect(unitOf('memory', 'phys_total')).toBe('bytes');
    expect(unitOf('memory', 'phys_used')).toBe('%');
    expect(unitOf('memory', 'meminfo.HugePages_Free')).toBe('count');
    expect(unitOf('diskusage', '/var.used')).toBe('bytes');
    expect(unitOf('diskusage', '/var.pct_used')).toBe('%');
    expect(unitOf('cpustats', 'cpuall.%idle')).toBe('%');
    expect(unitOf('diskio', 'vda.read_bytes_s')).toBe('bytes/s');
    expect(unitOf('diskio', 'vda.busy_pct')).toBe('%');
    expect(unitOf('networktraffic', 'eth0.recv_packets_s')).toBe('/s');
    expect(unitOf('redis', 'stats.net_input_bytes_s')).toBe('bytes/s');
    expect(unitOf('redis', 'stats.instantaneous_ops_per_sec')).toBe('/s');
    expect(unitOf('redis', 'latency_ms')).toBe('ms');
    expect(unitOf('redis', 'server.uptime_in_seconds')).toBe('s');
    expect(unitOf('mongodb', 'mem.resident')).toBe('MiB');
    expect(unitOf('mysql', 'uptime')).toBe('s');
    expect(unitOf('loadaverage', 'load1')).toBeUndefined();
    // `used` is bytes for a disk only.
    expect(unitOf('redis', 'used')).toBeUndefined();
  });

  it('keep the raw value first, a human reading after', () => {
    expect(withUnit('memory', 'phys_total', 25_276_071_936)).toBe('25276071936 B (23.5 GiB)');
    expect(withUnit('memory', 'swap_total', 0)).toBe('0 B');
    expect(withUnit('diskio', 'vda.read_bytes_s', 2048)).toBe('2048 B/s (2.0 KiB/s)');
    expect(withUnit('uptime', 'seconds', 3725)).toBe('3725 s (1h 2m 5s)');
    expect(withUnit('uptime', 'boot_time', 0)).toBe('0 (1970-01-01T00:00:00.000Z)');
    expect(withUnit('system', 'os.name', 'linux')).toBe('"linux"');
  });
});
