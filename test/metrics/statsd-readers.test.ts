// Statsd reader processes: a reader's interval merged into the agent's aggregator gives the flush
// one aggregator would have given for all the packets; real reader processes forked from
// dist/ share a real UDP socket with the test (the agent's part), none lost, none counted twice;
// a reader killed is noticed and the socket still served; idle readers stop, driven by the clock.
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { Logger } from '../../agent/log/index.js';
import { listenUdp, closeUdp } from '../../agent/metrics/listeners.js';
import { StatsdAggregator } from '../../agent/metrics/statsd-aggregator.js';
import { StatsdInterval } from '../../agent/metrics/statsd-interval.js';
import { IDLE_MS, StatsdReaders } from '../../agent/metrics/statsd-readers.js';
import { seededRandom } from '../helpers/seeded-random.js';

const INTERVAL_MS = 10_000;

function flushMap(aggregator: StatsdAggregator): Map<string, number> {
  const out = new Map(aggregator.flush());
  // The flush's own timings are the clock's, not the data's.
  out.delete('stats.statsd.processing_time');
  out.delete('stats.statsd.graphiteStats.calculationtime');
  return out;
}

describe('StatsdInterval merged into StatsdAggregator', () => {
  it('flushes what one aggregator flushes for the same packets, however they were shared out', () => {
    const random = seededRandom(42);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    // Values whose sums are exact in binary, so that the order of additions cannot matter; gauges
    // only as deltas (the order of a set and a delta between two readers is the network's).
    const lines = [
      'a:1|c',
      'a:2|c|@0.5',
      'b:0.25|c',
      't:3|ms',
      't:1.5|ms|@0.5',
      'u:7|h',
      'g:+2|g',
      'g:-0.5|g',
      's:x|s',
      's:y|s',
      'bad line',
      'c;env=prod:1|c',
      'x:1|q',
    ];
    for (let run = 0; run < 50; run++) {
      const one = new StatsdAggregator({ flushIntervalMs: INTERVAL_MS });
      const shared = new StatsdAggregator({ flushIntervalMs: INTERVAL_MS });
      const readers = [new StatsdInterval(1000), new StatsdInterval(1000)];
      for (let packet = 0; packet < 40; packet++) {
        const text = Array.from({ length: 1 + Math.floor(random() * 4) }, () => pick(lines)).join('\n');
        one.ingest(Buffer.from(text));
        const where = Math.floor(random() * 3);
        if (where === 2) shared.ingest(Buffer.from(text));
        else readers[where]!.ingest(Buffer.from(text));
      }
      for (const reader of readers) shared.merge(reader.take());
      expect(flushMap(shared)).toEqual(flushMap(one));
    }
  });

  it('keeps a set then deltas as a set of their sum, and bounds its keys', () => {
    const interval = new StatsdInterval(2);
    interval.ingest(Buffer.from('g:+1|g\ng:10|g\ng:+2|g\nh:-3|g\nh:-1|g\ni:1|c'));
    const snapshot = interval.take();
    expect(snapshot.gauges).toEqual([
      ['g', 12, false],
      ['h', -4, true],
    ]);
    expect(snapshot.counters).toEqual([]);
    expect(snapshot.droppedKeys).toBe(1);
    expect([snapshot.packets, snapshot.metricLines, snapshot.badLines]).toEqual([1, 6, 0]);
    // A new interval each take.
    expect(interval.take().gauges).toEqual([]);
  });
});

describe('StatsdReaders (real reader processes)', () => {
  const logger = Logger.create({ level: 'error', format: 'text', sink: { kind: 'fd', fd: 2 } });
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  async function setUp(now: () => number) {
    const aggregator = new StatsdAggregator({ flushIntervalMs: INTERVAL_MS });
    let own = 0;
    const socket = await listenUdp('127.0.0.1', 0, (packet) => {
      own++;
      aggregator.ingest(packet);
    });
    const readers = new StatsdReaders({ maxReaders: 2, maxKeys: 1000, logger, now, startRate: 1 });
    readers.attach(socket);
    const sender: Socket = createSocket('udp4');
    cleanup.push(
      () => closeUdp(socket),
      () => readers.stop(),
      () => closeUdp(sender),
    );
    const port = socket.address().port;
    let sent = 0;
    const send = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) {
        await new Promise<void>((resolve, reject) =>
          sender.send(`hits:1|c\nlat:${i % 7}|ms`, port, '127.0.0.1', (error) =>
            error ? reject(error) : resolve(),
          ),
        );
        sent++;
      }
    };
    let counted = 0;
    let hits = 0;
    let fromReaders = 0;
    /** A flush: the readers' intervals merged, the agent's own packets counted. */
    const flush = async (): Promise<void> => {
      const snapshots = await readers.collect(1, own);
      counted += own;
      own = 0;
      for (const snapshot of snapshots) {
        aggregator.merge(snapshot);
        counted += snapshot.packets;
        fromReaders += snapshot.packets;
      }
      hits += new Map(aggregator.flush()).get('stats.counters.hits.count')!;
      // Never more than was sent: no packet counted twice.
      expect(counted).toBeLessThanOrEqual(sent);
      expect(hits).toBe(counted);
    };
    /** Flushes until every packet sent is counted (each packet is read by exactly one reader). */
    const settle = async (): Promise<void> => {
      for (let round = 0; round < 200 && counted < sent; round++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        await flush();
      }
      expect(counted).toBe(sent);
    };
    return { readers, send, flush, settle, fromReaders: () => fromReaders };
  }

  it('shares the socket: every packet counted once, some by the readers; a killed reader is not replaced at once', async () => {
    const { readers, send, flush, settle, fromReaders } = await setUp(() => 0);
    await send(50);
    await settle();
    // That flush saw traffic (50 packets a "second" against a start rate of 1): readers started.
    expect(readers.stats().running).toBe(2);

    // Until the readers take part (they start in a few hundred ms) the agent reads alone; either
    // way no packet is lost or counted twice (loopback at this rate drops nothing).
    for (let round = 0; round < 100 && fromReaders() === 0; round++) {
      await send(200);
      await settle();
    }
    expect(fromReaders()).toBeGreaterThan(0);

    // A reader killed: noticed, not replaced within the backoff (the clock does not move), and the
    // socket still served by the rest.
    process.kill(readers.pids()[0]!, 'SIGKILL');
    for (let round = 0; round < 100 && readers.stats().running > 1; round++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(readers.stats()).toMatchObject({ running: 1, died: 1, started: 2 });
    await send(200);
    await settle();
    await flush();
    expect(readers.stats()).toMatchObject({ running: 1, started: 2 });
  });

  it('stops the readers once the rate stays low for IDLE_MS of the clock, and leaves no process', async () => {
    const clock = { ms: 0 };
    const { readers, send, flush, settle } = await setUp(() => clock.ms);
    await send(20);
    await settle();
    expect(readers.stats().running).toBe(2);
    const pids = readers.pids();
    await flush(); // no packets: quiet from now
    clock.ms += IDLE_MS - 1;
    await flush();
    expect(readers.stats().running).toBe(2);
    clock.ms += 1;
    await flush();
    for (let round = 0; round < 200 && readers.stats().running > 0; round++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(readers.stats().running).toBe(0);
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
