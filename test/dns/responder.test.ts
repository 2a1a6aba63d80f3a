// The DNS answers themselves, query bytes in and answer bytes out (no socket): names, rcodes, the
// SOA of negative answers, case, the passing filter, EDNS0 sizes and truncation, and packets a
// stranger may send (garbage, a compression loop, several questions, other opcodes).
import dnsPacket, { type Packet } from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { MemberDirectory, type DnsMember } from '../../agent/dns/directory.js';
import { DnsResponder, PLAIN_UDP_LIMIT } from '../../agent/dns/responder.js';

const member = (
  name: string,
  address: string,
  groups: string[],
  extra: Partial<DnsMember> = {},
): DnsMember => ({
  name,
  address,
  state: 'alive',
  groups,
  datacenter: 'dc1',
  critical: 0,
  ...extra,
});

function responder(members: DnsMember[], options: { onlyPassing?: boolean; ttl?: number } = {}) {
  const directory = new MemberDirectory(() => members, 'dc1', 1000);
  return new DnsResponder({
    domain: 'opsbro',
    datacenter: 'dc1',
    ttl: options.ttl ?? 0,
    onlyPassing: options.onlyPassing ?? false,
    directory,
  });
}

function query(name: string, type: string, extra: Partial<Packet> = {}): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: 4242,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: type as 'A', class: 'IN' }],
    ...extra,
  });
}

/** A decoded answer, with what dns-packet decodes and its types leave out. */
type Decoded = Omit<Packet, 'answers'> & {
  rcode: string;
  opcode: string;
  flag_aa: boolean;
  flag_rd: boolean;
  flag_tc: boolean;
  answers?: Array<{ type: string; name: string; data?: unknown }>;
};

async function ask(r: DnsResponder, bytes: Buffer, transport: 'udp' | 'tcp' = 'udp') {
  const reply = await r.respond(bytes, transport);
  if (!reply) throw new Error('no answer');
  return { reply, packet: dnsPacket.decode(reply.bytes) as unknown as Decoded };
}

const CLUSTER = [
  member('web-1', '10.0.0.1', ['linux', 'redis']),
  member('web-2', '10.0.0.2', ['linux', 'redis']),
  member('db-1', '10.0.0.3', ['linux', 'mysql'], { critical: 1 }),
  member('v6-1', 'fd00::7', ['linux']),
  member('gone', '10.0.0.9', ['redis'], { state: 'dead' }),
  member('far', '10.1.0.1', ['redis'], { datacenter: 'dc2' }),
];

describe('names of the domain', () => {
  it('gives the A records of the alive members of a group, shuffled, authoritative, id and RD echoed', async () => {
    const r = responder(CLUSTER);
    const orders = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const { packet } = await ask(r, query('redis.group.dc1.opsbro', 'A'));
      expect(packet.id).toBe(4242);
      expect(packet.rcode).toBe('NOERROR');
      expect(packet.flag_aa).toBe(true);
      expect(packet.flag_rd).toBe(true);
      const addresses = (packet.answers ?? []).map((answer) => answer.data as string);
      expect([...addresses].sort()).toEqual(['10.0.0.1', '10.0.0.2']); // not dead, not dc2
      orders.add(addresses.join(','));
    }
    expect(orders.size).toBe(2);
  });

  it('gives one node, AAAA for an IPv6 member, and NODATA (NOERROR, the SOA) for a type it lacks', async () => {
    const r = responder(CLUSTER);
    const node = await ask(r, query('db-1.node.dc1.opsbro', 'A'));
    expect(node.packet.answers).toMatchObject([
      { type: 'A', name: 'db-1.node.dc1.opsbro', data: '10.0.0.3' },
    ]);
    const v6 = await ask(r, query('v6-1.node.dc1.opsbro', 'AAAA'));
    expect(v6.packet.answers).toMatchObject([{ type: 'AAAA', data: 'fd00::7' }]);
    const linux = await ask(r, query('linux.group.dc1.opsbro', 'AAAA'));
    expect(linux.packet.answers).toMatchObject([{ type: 'AAAA', data: 'fd00::7' }]);
    const nodata = await ask(r, query('web-1.node.dc1.opsbro', 'AAAA'));
    expect(nodata.packet.rcode).toBe('NOERROR');
    expect(nodata.packet.answers).toEqual([]);
    expect(nodata.packet.authorities).toMatchObject([{ type: 'SOA', name: 'opsbro' }]);
    const any = await ask(r, query('linux.group.dc1.opsbro', 'ANY'));
    expect((any.packet.answers ?? []).map((answer) => answer.type).sort()).toEqual(['A', 'A', 'A', 'AAAA']);
  });

  it('answers NXDOMAIN with the SOA (its minimum the TTL) for unknown names, other datacenters and dead members', async () => {
    const r = responder(CLUSTER, { ttl: 30 });
    for (const name of [
      'nothing.group.dc1.opsbro',
      'gone.node.dc1.opsbro',
      'redis.group.dc2.opsbro',
      'web-1.node.dc9.opsbro',
      'what.opsbro',
      'a.b.c.d.opsbro',
    ]) {
      const { packet, reply } = await ask(r, query(name, 'A'));
      expect(reply.rcode, name).toBe('NXDOMAIN');
      expect(packet.answers).toEqual([]);
      expect(packet.authorities).toMatchObject([
        { type: 'SOA', name: 'opsbro', ttl: 30, data: { mname: 'ns.opsbro', minimum: 30 } },
      ]);
    }
    const soa = await ask(r, query('opsbro', 'SOA'));
    expect(soa.packet.answers).toMatchObject([{ type: 'SOA', name: 'opsbro' }]);
  });

  it('matches names without case and echoes the question as asked (0x20)', async () => {
    const r = responder(CLUSTER);
    const { packet } = await ask(r, query('ReDiS.GrOuP.Dc1.OpSbRo', 'A'));
    expect(packet.questions).toMatchObject([{ name: 'ReDiS.GrOuP.Dc1.OpSbRo' }]);
    expect(packet.answers).toHaveLength(2);
    expect(packet.answers?.[0]?.name).toBe('ReDiS.GrOuP.Dc1.OpSbRo');
  });

  it('leaves out members with a CRITICAL check under .passing., or everywhere with only_passing', async () => {
    const addresses = async (r: DnsResponder, name: string) =>
      ((await ask(r, query(name, 'A'))).packet.answers ?? []).map((answer) => answer.data as string).sort();
    const r = responder(CLUSTER);
    expect(await addresses(r, 'linux.group.dc1.opsbro')).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    expect(await addresses(r, 'linux.group.passing.dc1.opsbro')).toEqual(['10.0.0.1', '10.0.0.2']);
    // mysql's only member is critical: no such healthy thing.
    expect((await ask(r, query('mysql.group.passing.dc1.opsbro', 'A'))).reply.rcode).toBe('NXDOMAIN');
    expect(await addresses(responder(CLUSTER, { onlyPassing: true }), 'linux.group.dc1.opsbro')).toEqual([
      '10.0.0.1',
      '10.0.0.2',
    ]);
  });
});

describe('kept answers', () => {
  it("keep each client's id and spelling, a new order each time, and go when the members change", async () => {
    const members = [...CLUSTER];
    const directory = new MemberDirectory(() => members, 'dc1', 60_000);
    const r = new DnsResponder({
      domain: 'opsbro',
      datacenter: 'dc1',
      ttl: 0,
      onlyPassing: false,
      directory,
    });
    const first = await ask(r, query('redis.group.dc1.opsbro', 'A'));
    const again = query('REDIS.Group.dc1.opsbro', 'A');
    again.writeUInt16BE(777, 0);
    // Answered from what was kept: at once, without the full way.
    const kept = r.respondFromCache(again, 'udp');
    expect(kept).toBeDefined();
    const packet = dnsPacket.decode(kept!.bytes) as unknown as Decoded;
    expect(packet.id).toBe(777);
    expect(packet.questions).toMatchObject([{ name: 'REDIS.Group.dc1.opsbro' }]);
    expect(packet.answers?.map((answer) => answer.data).sort()).toEqual(
      first.packet.answers?.map((answer) => answer.data).sort(),
    );
    const orders = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const each = dnsPacket.decode(r.respondFromCache(again, 'udp')!.bytes) as unknown as Decoded;
      orders.add((each.answers ?? []).map((answer) => answer.data).join(','));
    }
    expect(orders.size).toBe(2);
    // A member joins group redis: the membership event makes the next answer new.
    members.push(member('web-3', '10.0.0.4', ['redis']));
    directory.invalidate();
    expect(r.respondFromCache(again, 'udp')).toBeUndefined();
    const after = await ask(r, query('redis.group.dc1.opsbro', 'A'));
    expect(after.packet.answers).toHaveLength(3);
  });
});

describe('what is not served', () => {
  it('refuses names outside the domain and classes other than IN', async () => {
    const r = responder(CLUSTER);
    expect((await ask(r, query('example.com', 'A'))).reply.rcode).toBe('REFUSED');
    const chaos = dnsPacket.encode({
      type: 'query',
      id: 1,
      questions: [{ name: 'version.bind', type: 'TXT', class: 'CH' }],
    });
    expect((await ask(r, chaos)).reply.rcode).toBe('REFUSED');
  });

  it('answers NOTIMP to other opcodes, FORMERR to two questions, to garbage and to a compression loop', async () => {
    const r = responder(CLUSTER);
    const status = query('redis.group.dc1.opsbro', 'A');
    status.writeUInt16BE(status.readUInt16BE(2) | (2 << 11), 2); // opcode STATUS
    const notimp = await ask(r, status);
    expect(notimp.reply.rcode).toBe('NOTIMP');
    expect(notimp.packet.opcode).toBe('STATUS');

    const two = dnsPacket.encode({
      type: 'query',
      id: 7,
      questions: [
        { name: 'redis.group.dc1.opsbro', type: 'A', class: 'IN' },
        { name: 'linux.group.dc1.opsbro', type: 'A', class: 'IN' },
      ],
    });
    expect((await ask(r, two)).reply.rcode).toBe('FORMERR');

    // A header claiming one question, then a name whose pointer points at itself.
    const loop = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
    const looped = await ask(r, loop);
    expect(looped.reply.rcode).toBe('FORMERR');
    expect(looped.packet.id).toBe(0x1234);

    const truncated = query('redis.group.dc1.opsbro', 'A').subarray(0, 20);
    expect((await ask(r, truncated)).reply.rcode).toBe('FORMERR');
  });

  it('does not answer a runt or a response (no reflection loops)', async () => {
    const r = responder(CLUSTER);
    expect(await r.respond(Buffer.from([1, 2, 3]), 'udp')).toBeUndefined();
    const response = query('redis.group.dc1.opsbro', 'A');
    response.writeUInt16BE(response.readUInt16BE(2) | 0x8000, 2);
    expect(await r.respond(response, 'udp')).toBeUndefined();
  });

  it('survives 20,000 random and cut packets', async () => {
    const r = responder(CLUSTER);
    const valid = query('redis.group.dc1.opsbro', 'A', {
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as never],
    });
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let i = 0; i < 20_000; i++) {
      const bytes =
        i % 2 === 0
          ? Buffer.from(Array.from({ length: Math.floor(random() * 80) }, () => Math.floor(random() * 256)))
          : Buffer.from(valid.subarray(0, Math.floor(random() * valid.length)));
      if (i % 4 === 1 && bytes.length > 14)
        bytes[12 + Math.floor(random() * (bytes.length - 12))] = Math.floor(random() * 256);
      const reply = await r.respond(bytes, 'udp');
      if (reply) expect(reply.bytes.length).toBeLessThanOrEqual(PLAIN_UDP_LIMIT);
    }
  });
});

describe('names a stranger may craft', () => {
  it('folds ASCII letters only: the Kelvin sign is no k, and a label holding a dot is no name of ours', async () => {
    const r = responder([...CLUSTER, member('k-1', '10.0.0.5', ['kafka'])]);
    expect((await ask(r, query('kafka.group.dc1.opsbro', 'A'))).reply.rcode).toBe('NOERROR');
    // U+212A, which String.toLowerCase makes a `k`; asked second too, after the kept answer of kafka.
    expect((await ask(r, query('\u212Aafka.group.dc1.opsbro', 'A'))).reply.rcode).toBe('NXDOMAIN');
    // One label `redis.group.dc1`, then `opsbro`: dns-packet reads it as the group name.
    const dotted = Buffer.concat([
      Buffer.from([0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 15]),
      Buffer.from('redis.group.dc1'),
      Buffer.from([6]),
      Buffer.from('opsbro'),
      Buffer.from([0, 0, 1, 0, 1]),
    ]);
    const refused = await ask(r, dotted);
    expect(refused.reply.rcode).toBe('REFUSED');
    expect(refused.packet.answers).toEqual([]);
  });

  it('answers only the members whose address is an IP literal (gossip carries any text)', async () => {
    const r = responder([
      member('good', '10.0.0.1', ['mixed']),
      member('named', 'db.internal', ['mixed']),
      member('broken', '1:2:3:4:5:6:7:8:9::1', ['mixed']),
      member('v6', 'fd00::1', ['mixed']),
    ]);
    for (let i = 0; i < 3; i++) {
      const { packet } = await ask(r, query('mixed.group.dc1.opsbro', 'ANY'));
      expect(packet.answers?.map((answer) => `${answer.type} ${String(answer.data)}`).sort()).toEqual([
        'A 10.0.0.1',
        'AAAA fd00::1',
      ]);
    }
    expect((await ask(r, query('named.node.dc1.opsbro', 'A'))).reply.rcode).toBe('NXDOMAIN');
  });
});

describe('sizes', () => {
  const forty = Array.from({ length: 40 }, (_, i) => member(`n-${i}`, `10.2.0.${i + 1}`, ['big']));

  it('truncates an answer over 512 bytes without EDNS0 (TC, no records) and serves it whole over TCP', async () => {
    const r = responder(forty);
    const udp = await ask(r, query('big.group.dc1.opsbro', 'A'));
    expect(udp.reply.bytes.length).toBeLessThanOrEqual(PLAIN_UDP_LIMIT);
    expect(udp.packet.flag_tc).toBe(true);
    expect(udp.packet.answers).toEqual([]);
    const tcp = await ask(r, query('big.group.dc1.opsbro', 'A'), 'tcp');
    expect(tcp.packet.flag_tc).toBe(false);
    expect(tcp.packet.answers).toHaveLength(40);
  });

  it("honours the client's EDNS0 buffer: 1232 bytes hold the 40 records, 512 do not", async () => {
    const r = responder(forty);
    const withBuffer = (size: number) =>
      query('big.group.dc1.opsbro', 'A', {
        additionals: [{ type: 'OPT', name: '.', udpPayloadSize: size } as never],
      });
    const large = await ask(r, withBuffer(4096));
    expect(large.packet.flag_tc).toBe(false);
    expect(large.packet.answers).toHaveLength(40);
    expect(large.packet.additionals).toMatchObject([{ type: 'OPT', udpPayloadSize: 1232 }]);
    const small = await ask(r, withBuffer(512));
    expect(small.packet.flag_tc).toBe(true);
  });
});
