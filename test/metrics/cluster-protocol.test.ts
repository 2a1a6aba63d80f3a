// The metrics cluster protocol on its own: what a member answers (its tree nodes, its series, within
// the answer's byte budget), requests it refuses field by field, answers a querier refuses, and
// how series of one name from several nodes merge.
import { decode, encode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import {
  ClusterQueries,
  mergeSameNames,
  METRICS_PROTOCOL,
  metricsRpcHandler,
  type LocalSeries,
} from '../../agent/metrics/cluster.js';
import type { FetchedSeries } from '../../agent/metrics/tsdb/series-store.js';

const series = (name: string, values: Array<number | null>, start = 1000): FetchedSeries => ({
  name,
  start,
  end: start + values.length * 10,
  stepSeconds: 10,
  values,
  aggregation: 'average',
});

const local: LocalSeries = {
  find: (pattern) => [{ path: pattern.replace('*', 'x'), text: 'x', leaf: true, branch: false }],
  fetchMatching: (pattern) =>
    Promise.resolve(
      pattern === 'big.*'
        ? Array.from({ length: 50 }, (_, index) =>
            series(`big.s${index}`, new Array<number>(10_000).fill(index)),
          )
        : [series('a.b', [1, null, 3])],
    ),
};
const handler = metricsRpcHandler(local);
const ask = async (request: unknown) => decode(await handler(encode(request), { peerId: 'p' }));

describe('the metrics cluster protocol', () => {
  it("answers with this node's tree nodes and series, whole series within 3 MiB", async () => {
    expect(await ask({ op: 'find', pattern: 'a.*' })).toEqual({
      nodes: [{ path: 'a.x', text: 'x', leaf: true, branch: false }],
    });
    expect(await ask({ op: 'fetch', pattern: 'a.*', from: 900, until: 1100 })).toEqual({
      series: [series('a.b', [1, null, 3])],
    });
    const big = (await ask({ op: 'fetch', pattern: 'big.*', from: 0, until: 2000 })) as {
      series: FetchedSeries[];
    };
    expect(big.series.length).toBeGreaterThan(10);
    expect(big.series.length).toBeLessThan(50);
    expect(big.series.every((one) => one.values.length === 10_000)).toBe(true);
  });

  it('refuses malformed requests, field by field', async () => {
    for (const [request, message] of [
      [{ op: 'drop', pattern: 'a' }, /unknown metrics request/],
      [{ op: 'find', pattern: '' }, /path expression/],
      [{ op: 'find', pattern: 'x'.repeat(2000) }, /path expression/],
      [{ op: 'fetch', pattern: 'a', from: 1.5, until: 2 }, /from/],
      [{ op: 'fetch', pattern: 'a', from: 1, until: -2 }, /until/],
      ['a string', /not a metrics request/],
    ] as const)
      await expect(ask(request), JSON.stringify(request)).rejects.toThrow(message);
  });

  it("leaves out members that fail or answer garbage, counting them, and keeps the others' answers", async () => {
    const answers: Record<string, () => Promise<Uint8Array>> = {
      good: () => handler(encode({ op: 'fetch', pattern: 'a.*', from: 900, until: 1100 }), { peerId: 'q' }),
      down: () => Promise.reject(new Error('unreachable')),
      liar: () => Promise.resolve(encode({ series: [{ ...series('a.b', [1]), values: [1, 2, 3] }] })),
    };
    const queries = new ClusterQueries({
      peers: () => Object.keys(answers),
      serveProtocol: () => undefined,
      requestMember: (id, protocol) => {
        expect(protocol).toBe(METRICS_PROTOCOL);
        return answers[id]!();
      },
    });
    expect(await queries.fetch('a.*', 900, 1100)).toEqual([series('a.b', [1, null, 3])]);
    expect(queries.failures).toBe(2);
  });

  it('merges series of one name slot by slot when they share the window, else keeps the first', () => {
    expect(
      mergeSameNames([
        series('s', [1, null, null]),
        series('s', [9, 2, null]),
        series('s', [9, 9, 3, 4]),
        series('t', [5]),
      ]),
    ).toEqual([series('s', [1, 2, null]), series('t', [5])]);
  });
});
