// The DNS interface of real agents, asked by dig: a 3-node cluster on 127.66.0.x (each agent's DNS
// on its own address, on the port it reports in /agent/info), group and node names, AAAA (none:
// NODATA with the SOA), NXDOMAIN with the SOA, REFUSED, NOTIMP, FORMERR (a raw packet dig cannot
// send), the statistics route, a member whose check goes CRITICAL left out of `.passing.` answers
// and back when it recovers, and a SIGKILLed member gone from the answers within the gossip bound.
import { execFile, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import type { DnsStatsAnswer } from '../../agent/shared/api-types.js';
import { cleanupAll, httpGet, tempDir } from '../helpers/agent-process.js';
import { type GossipAgent, startGossipAgent, viewOf, waitFor } from '../helpers/gossip-agents.js';
import { describeWhenAvailable } from '../helpers/requirements.js';

const run = promisify(execFile);
const DIG = '/usr/bin/dig';
const BLOCK = 66;
/** As test/gossip/cluster.test.ts: Serf takes ~5.6 s at N=10; room for a busy CI. */
const FAILURE_DETECTION_BOUND_MS = 15_000;
const digMissing = spawnSync(DIG, ['-v']).error
  ? 'dig is not installed (apt-get install dnsutils)'
  : undefined;

afterAll(cleanupAll);

async function dnsPort(agent: GossipAgent): Promise<number> {
  const info = JSON.parse((await httpGet(`${agent.api}/agent/info`)).body) as { ports: { dns?: number } };
  if (!info.ports.dns) throw new Error(`${agent.name} reports no DNS port`);
  return info.ports.dns;
}

async function dig(agent: GossipAgent, port: number, args: string[]) {
  const { stdout } = await run(DIG, [
    '-p',
    String(port),
    `@${agent.address}`,
    '+time=3',
    '+tries=1',
    ...args,
  ]);
  const lines = stdout.split('\n');
  const section = (name: string) => {
    const start = lines.findIndex((line) => line.startsWith(`;; ${name} SECTION:`));
    if (start < 0) return [];
    const end = lines.findIndex((line, index) => index > start && line.trim() === '');
    return lines.slice(start + 1, end < 0 ? undefined : end).map((line) => line.trim().split(/\s+/));
  };
  return {
    status: /status: ([A-Z]+)/.exec(stdout)?.[1],
    addresses: section('ANSWER')
      .map((fields) => fields[4]!)
      .sort(),
    authority: section('AUTHORITY').map((fields) => `${fields[0]} ${fields[3]}`),
  };
}

describeWhenAvailable('DNS on a cluster of agents', digMissing, () => {
  it('answers groups and nodes from live membership, and drops a SIGKILLed member', async () => {
    const groups = { 1: '[redis, web]', 2: '[redis]', 3: '[web]' } as const;
    // node-3's one check is CRITICAL while this file exists (checked every second, hard at once).
    const flag = join(tempDir('opsbro-dns-flag-'), 'down');
    const node3Root = tempDir();
    mkdirSync(join(node3Root, 'etc', 'conf.d'), { recursive: true });
    writeFileSync(
      join(node3Root, 'etc', 'conf.d', 'check.yml'),
      `check:\n  name: service\n  interval: 1s\n  max_attempts: 1\n  critical_if: "file_exists('${flag}')"\n`,
    );
    const seed = await startGossipAgent(BLOCK, 1, { yaml: `groups: ${groups[1]}` });
    const others = await Promise.all(
      ([2, 3] as const).map((index) =>
        startGossipAgent(
          BLOCK,
          index,
          { yaml: `groups: ${groups[index]}`, seeds: [seed.address] },
          index === 3 ? node3Root : undefined,
        ),
      ),
    );
    const agents = [seed, ...others];
    await waitFor(
      async () =>
        (await Promise.all(agents.map(viewOf))).every(
          (view) => Object.values(view).filter((state) => state === 'alive').length === 3,
        ),
      15_000,
      '3 alive everywhere',
    );
    const [a1, a2, a3] = agents.map((agent) => agent.address);
    const port = await dnsPort(seed);

    expect(await dig(seed, port, ['redis.group.dc1.opsbro'])).toMatchObject({
      status: 'NOERROR',
      addresses: [a1, a2].sort(),
    });
    // Any agent answers for the whole cluster.
    const port3 = await dnsPort(others[1]!);
    expect((await dig(others[1]!, port3, ['web.group.dc1.opsbro'])).addresses).toEqual([a1, a3].sort());
    expect((await dig(seed, port, ['node-3.node.dc1.opsbro'])).addresses).toEqual([a3]);
    expect(await dig(seed, port, ['node-3.node.dc1.opsbro', 'AAAA'])).toMatchObject({
      status: 'NOERROR',
      addresses: [],
      authority: ['opsbro. SOA'],
    });
    expect(await dig(seed, port, ['mysql.group.dc1.opsbro'])).toMatchObject({
      status: 'NXDOMAIN',
      authority: ['opsbro. SOA'],
    });
    expect((await dig(seed, port, ['redis.group.dc9.opsbro'])).status).toBe('NXDOMAIN');
    expect((await dig(seed, port, ['example.com'])).status).toBe('REFUSED');
    expect((await dig(seed, port, ['+opcode=update', 'redis.group.dc1.opsbro'])).status).toBe('NOTIMP');
    // A header and a question cut short: FORMERR, with the query's id.
    const formerr = await new Promise<Buffer>((resolve) => {
      const udp = createSocket('udp4');
      udp.on('message', (message) => {
        udp.close();
        resolve(message);
      });
      udp.send(
        Buffer.from([0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 5, 0x72, 0x65]),
        port,
        seed.address,
      );
    });
    expect(formerr.readUInt16BE(0)).toBe(0xabcd);
    expect(formerr.readUInt16BE(2) & 0x0f).toBe(1);

    const stats = JSON.parse((await httpGet(`${seed.api}/dns/stats`)).body) as DnsStatsAnswer;
    expect(stats).toMatchObject({
      enabled: true,
      port,
      answers: { NXDOMAIN: 2, REFUSED: 1, NOTIMP: 1, FORMERR: 1 },
    });
    expect(stats.queries.total).toBe(8); // web.group went to node-3

    // Health-aware: node-3's check goes CRITICAL; the .passing. name leaves it out once gossip
    // has carried the change, the plain name keeps it; back to OK, it is back.
    const passing = async () => (await dig(seed, port, ['web.group.passing.dc1.opsbro'])).addresses;
    expect(await passing()).toEqual([a1, a3].sort());
    writeFileSync(flag, '');
    await waitFor(async () => (await passing()).join() === a1, 10_000, 'node-3 out of web.group.passing');
    expect((await dig(seed, port, ['web.group.dc1.opsbro'])).addresses).toEqual([a1, a3].sort());
    rmSync(flag);
    await waitFor(async () => (await passing()).length === 2, 10_000, 'node-3 back in web.group.passing');

    // node-2 dies without a word: it leaves redis' answers once gossip declares it dead.
    others[0]!.process.kill('SIGKILL');
    const took = await waitFor(
      async () => {
        const answer = await dig(seed, port, ['redis.group.dc1.opsbro']);
        return answer.addresses.length === 1 && answer.addresses[0] === a1;
      },
      FAILURE_DETECTION_BOUND_MS,
      'node-2 gone from redis.group.dc1.opsbro',
    );
    console.log(`[dns] a SIGKILLed member left the answers after ${took} ms`);
    expect((await dig(seed, port, ['node-2.node.dc1.opsbro'])).status).toBe('NXDOMAIN');
  });
});
