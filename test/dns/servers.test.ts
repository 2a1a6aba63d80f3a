// The DNS listeners with real sockets and real clients: dig (Debian's dnsutils) over UDP and TCP,
// its fallback to TCP when an answer of 40 members is truncated, pipelined queries on one TCP
// connection, a TCP client that sends a length prefix and stops (closed when idle, nobody else
// kept waiting), and names outside the domain sent on to a recursor the test starts (Debian's
// dnsmasq, answering from a hosts file).
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { MemberDirectory, type DnsMember } from '../../agent/dns/directory.js';
import { Recursors } from '../../agent/dns/recursors.js';
import { DnsResponder } from '../../agent/dns/responder.js';
import { DnsServers } from '../../agent/dns/servers.js';
import { DnsStats } from '../../agent/dns/stats.js';
import { MAX_PIPELINED, MAX_UNREAD_BYTES, serveTcpConnection } from '../../agent/dns/tcp-connection.js';
import { cleanupAll, freePort, tempDir } from '../helpers/agent-process.js';
import { describeWhenAvailable } from '../helpers/requirements.js';
import { DNSMASQ, dnsmasqArgs } from '../../bench/dns/dnsmasq.js';

const run = promisify(execFile);
const DIG = '/usr/bin/dig';
const digMissing = spawnSync(DIG, ['-v']).error
  ? 'dig is not installed (apt-get install dnsutils)'
  : undefined;

const running: Array<{ close(): Promise<void> }> = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.close()));
});
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  cleanupAll();
});

async function serve(
  members: DnsMember[],
  options: { recursors?: Array<{ host: string; port: number }>; idleMs?: number } = {},
) {
  const stats = new DnsStats();
  const forwarder = options.recursors ? new Recursors(options.recursors) : undefined;
  const responder = new DnsResponder({
    domain: 'opsbro',
    datacenter: 'dc1',
    ttl: 0,
    onlyPassing: false,
    directory: new MemberDirectory(() => members, 'dc1', 1000),
    ...(forwarder ? { forward: (query, transport) => forwarder.forward(query, transport) } : {}),
  });
  const servers = new DnsServers(responder, stats, options.idleMs);
  const port = await servers.listen('127.0.0.1', 0);
  running.push(servers);
  return { port, stats };
}

const member = (index: number, groups: string[]): DnsMember => ({
  name: `n-${index}`,
  address: `10.3.0.${index}`,
  state: 'alive',
  groups,
  datacenter: 'dc1',
  critical: 0,
});

/** dig's full answer as text, and what it found (run without blocking: the server is in this process). */
async function dig(port: number, args: string[]) {
  const { stdout } = await run(DIG, ['-p', String(port), '@127.0.0.1', '+time=3', '+tries=1', ...args]).catch(
    (error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }),
  );
  const status = /status: ([A-Z]+)/.exec(stdout)?.[1];
  const answers = stdout
    .split('\n')
    .filter((line) => /\sIN\s+(A|AAAA)\s/.test(line) && !line.startsWith(';'))
    .map((line) => line.trim().split(/\s+/).pop()!);
  return { text: stdout, status, answers };
}

describeWhenAvailable('the DNS listeners with dig', digMissing, () => {
  it('answers over UDP and TCP; 40 members overflow 512 bytes: truncated, and dig gets them whole over TCP', async () => {
    const forty = Array.from({ length: 40 }, (_, i) => member(i + 1, ['big']));
    const { port, stats } = await serve([...forty, member(99, ['small'])]);

    const udp = await dig(port, ['small.group.dc1.opsbro']);
    expect(udp.status).toBe('NOERROR');
    expect(udp.answers).toEqual(['10.3.0.99']);
    expect((await dig(port, ['+tcp', 'n-7.node.dc1.opsbro'])).answers).toEqual(['10.3.0.7']);

    const big = await dig(port, ['+noedns', 'big.group.dc1.opsbro']);
    expect(big.text).toContain('Truncated, retrying in TCP mode');
    expect(big.status).toBe('NOERROR');
    expect(big.answers.sort()).toEqual(forty.map((m) => m.address).sort());
    // With EDNS0 (dig's default, 1232 bytes) the 40 records fit one UDP answer.
    const edns = await dig(port, ['big.group.dc1.opsbro']);
    expect(edns.text).not.toContain('Truncated');
    expect(edns.answers).toHaveLength(40);

    expect((await dig(port, ['nothing.group.dc1.opsbro'])).status).toBe('NXDOMAIN');
    expect((await dig(port, ['example.com'])).status).toBe('REFUSED');
    expect((await dig(port, ['+opcode=notify', 'small.group.dc1.opsbro'])).status).toBe('NOTIMP');
    expect(stats.snapshot()).toMatchObject({
      queries: { tcp: 2, udp: 6 },
      answers: { NOERROR: 5, NXDOMAIN: 1, REFUSED: 1, NOTIMP: 1 },
      truncated: 1,
    });
  });

  it('sends names outside the domain to a recursor (dnsmasq), over UDP and TCP', async () => {
    const dnsmasqMissing = spawnSync(DNSMASQ, ['--version']).error;
    if (dnsmasqMissing) throw new Error('dnsmasq is not installed (apt-get install dnsmasq-base)');
    const dir = tempDir('opsbro-dns-recursor-');
    const hosts = join(dir, 'hosts');
    writeFileSync(hosts, '192.0.2.10 www.example.test\n');
    const recursorPort = await freePort();
    const dnsmasq = spawn(DNSMASQ, dnsmasqArgs(recursorPort, hosts, ['--log-facility=-']), {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(dnsmasq);
    try {
      const { port, stats } = await serve([member(1, ['web'])], {
        recursors: [{ host: '127.0.0.1', port: recursorPort }],
      });
      await vi.waitFor(
        async () => expect((await dig(port, ['www.example.test'])).answers).toEqual(['192.0.2.10']),
        {
          timeout: 5000,
          interval: 100,
        },
      );
      expect((await dig(port, ['+tcp', 'www.example.test'])).answers).toEqual(['192.0.2.10']);
      expect((await dig(port, ['web.group.dc1.opsbro'])).answers).toEqual(['10.3.0.1']);
      expect(stats.snapshot().forwarded).toBeGreaterThanOrEqual(2);
    } finally {
      dnsmasq.kill('SIGKILL');
    }
  });
});

describe('the DNS listeners against odd clients', () => {
  function framed(id: number, name: string): Buffer {
    const query = dnsPacket.encode({ type: 'query', id, questions: [{ type: 'A', name, class: 'IN' }] });
    const out = Buffer.alloc(2 + query.length);
    out.writeUInt16BE(query.length, 0);
    query.copy(out, 2);
    return out;
  }

  it('answers several queries sent at once on one TCP connection (pipelining)', async () => {
    const { port } = await serve([member(1, ['a']), member(2, ['b'])]);
    const socket = connect({ host: '127.0.0.1', port });
    const answers = await new Promise<Map<number, string[]>>((resolve, reject) => {
      let buffered = Buffer.alloc(0);
      const found = new Map<number, string[]>();
      socket.on('error', reject);
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
          const packet = dnsPacket.decode(buffered.subarray(2, 2 + buffered.readUInt16BE(0)));
          buffered = buffered.subarray(2 + buffered.readUInt16BE(0));
          found.set(
            packet.id!,
            (packet.answers ?? []).map((answer) => (answer as { data: string }).data),
          );
          if (found.size === 3) resolve(found);
        }
      });
      socket.write(
        Buffer.concat([
          framed(1, 'a.group.dc1.opsbro'),
          framed(2, 'b.group.dc1.opsbro'),
          framed(3, 'n-1.node.dc1.opsbro'),
        ]),
      );
    });
    socket.destroy();
    expect(Object.fromEntries(answers)).toEqual({ 1: ['10.3.0.1'], 2: ['10.3.0.2'], 3: ['10.3.0.1'] });
  });

  it('closes a TCP client that sends a length prefix and stops, once idle; others are answered meanwhile', async () => {
    const { port } = await serve([member(1, ['a'])], { idleMs: 300 });
    const stuck = connect({ host: '127.0.0.1', port });
    const closed = new Promise<void>((resolve) => stuck.on('close', () => resolve()));
    stuck.on('error', () => {});
    stuck.write(Buffer.from([0x01, 0x00, 0x12])); // 256 bytes announced, 1 sent
    // Another client is answered while it hangs there.
    const udp = createSocket('udp4');
    const reply = await new Promise<Buffer>((resolve) => {
      udp.on('message', (message) => resolve(message));
      udp.send(
        dnsPacket.encode({ type: 'query', id: 9, questions: [{ type: 'A', name: 'a.group.dc1.opsbro' }] }),
        port,
        '127.0.0.1',
      );
    });
    udp.close();
    expect(dnsPacket.decode(reply).answers).toMatchObject([{ data: '10.3.0.1' }]);
    await closed;
    expect(stuck.destroyed).toBe(true);
  });

  it('stops reading a TCP client that does not read its answers, and loses none once it does', async () => {
    const forty = Array.from({ length: 40 }, (_, i) => member(i + 1, ['big']));
    const directory = new MemberDirectory(() => forty, 'dc1', 60_000);
    const responder = new DnsResponder({
      domain: 'opsbro',
      datacenter: 'dc1',
      ttl: 0,
      onlyPassing: false,
      directory,
    });
    let inFlight = 0;
    let mostInFlight = 0;
    let mostUnread = 0;
    const server = createServer((socket) =>
      serveTcpConnection(socket, {
        idleMs: 30_000,
        answer: async (message) => {
          inFlight++;
          mostInFlight = Math.max(mostInFlight, inFlight);
          mostUnread = Math.max(mostUnread, socket.writableLength);
          const reply = await responder.respond(message, 'tcp');
          inFlight--;
          return reply?.bytes;
        },
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    running.push({ close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
    const client = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port });
    client.pause(); // it reads nothing for now
    // ~700-byte answers: 14 MB, beyond the kernel's socket buffers and what the agent may hold unread.
    const count = 20_000;
    client.write(Buffer.concat(Array.from({ length: count }, (_, i) => framed(i, 'big.group.dc1.opsbro'))));
    // The agent has filled what it may hold, and then some: the kernel's buffers hold the rest.
    await vi.waitFor(() => expect(mostUnread).toBeGreaterThan(MAX_UNREAD_BYTES / 2), { timeout: 10_000 });
    const answered = new Promise<number>((resolve) => {
      let bytes = Buffer.alloc(0);
      let got = 0;
      client.on('data', (chunk: Buffer) => {
        bytes = Buffer.concat([bytes, chunk]);
        while (bytes.length >= 2 && bytes.length >= 2 + bytes.readUInt16BE(0)) {
          bytes = bytes.subarray(2 + bytes.readUInt16BE(0));
          if (++got === count) resolve(got);
        }
      });
    });
    client.resume();
    expect(await answered).toBe(count);
    client.destroy();
    expect(mostInFlight).toBeLessThanOrEqual(MAX_PIPELINED);
    // Reading stops once the unread answers pass the bound: at most one more answer's worth.
    expect(mostUnread).toBeLessThanOrEqual(MAX_UNREAD_BYTES + 2 + 1232);
  });

  it('closes a TCP client that dribbles a message slower than the deadline, though never idle', async () => {
    const server = createServer((socket) =>
      serveTcpConnection(socket, {
        idleMs: 1000,
        messageDeadlineMs: 300,
        answer: () => Promise.resolve(undefined),
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    running.push({ close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
    const client = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port });
    client.on('error', () => {});
    const closed = new Promise<number>((resolve) => {
      const began = Date.now();
      client.on('close', () => resolve(Date.now() - began));
    });
    client.write(Buffer.from([0, 40]));
    const dribble = setInterval(() => client.write(Buffer.from([0x41])), 100);
    let took: number;
    try {
      took = await closed;
    } finally {
      clearInterval(dribble);
      client.destroy();
    }
    // Every 100 ms a byte (never idle for its 1 s), yet closed at the message's deadline.
    expect(took).toBeLessThan(1000);
  });

  it('does not keep a SERVFAIL: a recursor that failed once is asked again', async () => {
    const recursor = createSocket('udp4');
    await new Promise<void>((resolve) => recursor.bind(0, '127.0.0.1', resolve));
    let answering = false;
    recursor.on('message', (message, from) => {
      if (!answering) return;
      const asked = dnsPacket.decode(message);
      recursor.send(
        dnsPacket.encode({
          type: 'response',
          id: asked.id,
          questions: asked.questions,
          answers: [{ type: 'A', name: 'www.example.test', data: '192.0.2.44' }],
        }),
        from.port,
        from.address,
      );
    });
    const forwarder = new Recursors([{ host: '127.0.0.1', port: recursor.address().port }], 200);
    const responder = new DnsResponder({
      domain: 'opsbro',
      datacenter: 'dc1',
      ttl: 0,
      onlyPassing: false,
      directory: new MemberDirectory(() => [], 'dc1', 60_000),
      forward: (query, transport) => forwarder.forward(query, transport),
    });
    const ask = async () => {
      const reply = await responder.respond(
        dnsPacket.encode({ type: 'query', id: 5, questions: [{ type: 'A', name: 'www.example.test' }] }),
        'udp',
      );
      return reply?.rcode;
    };
    expect(await ask()).toBe('SERVFAIL');
    answering = true;
    expect(await ask()).toBe('NOERROR');
    recursor.close();
  });

  it('lives through random and cut packets on UDP and TCP, and still answers', async () => {
    const { port, stats } = await serve([member(1, ['a'])]);
    const udp = createSocket('udp4');
    let seed = 3;
    const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let i = 0; i < 2000; i++) {
      const bytes = Buffer.from(
        Array.from({ length: Math.floor(random() * 100) }, () => Math.floor(random() * 256)),
      );
      udp.send(bytes, port, '127.0.0.1');
    }
    for (let i = 0; i < 20; i++) {
      const socket = connect({ host: '127.0.0.1', port });
      socket.on('error', () => {});
      socket.end(
        Buffer.from(Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 256))),
      );
    }
    // The flood overflows the socket's receive buffer (the kernel drops what does not fit): the
    // probe is sent again until it gets through.
    const probe = dnsPacket.encode({
      type: 'query',
      id: 0xbeef,
      questions: [{ type: 'A', name: 'a.group.dc1.opsbro' }],
    });
    const reply = await new Promise<Buffer>((resolve) => {
      const again = setInterval(() => udp.send(probe, port, '127.0.0.1'), 200);
      udp.on('message', (message) => {
        if (message.readUInt16BE(0) !== 0xbeef) return;
        clearInterval(again);
        resolve(message);
      });
      udp.send(probe, port, '127.0.0.1');
    });
    udp.close();
    expect(dnsPacket.decode(reply).answers).toMatchObject([{ data: '10.3.0.1' }]);
    // Garbage got FORMERR or nothing; none of it stopped the server.
    expect(stats.snapshot().answers.FORMERR).toBeGreaterThan(10);
  });
});
