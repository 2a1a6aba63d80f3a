// What Grafana's Graphite data source sends and expects, end to end through the pure core: its
// "Save & test" query (target=constantLine(100)&from=-1h&until=now&format=json&maxDataPoints=…)
// and a typical dashboard query consolidated to the panel's width.
import { describe, expect, it } from 'vitest';
import { evaluateTarget } from '../../../agent/metrics/render/evaluate.js';
import { renderJson } from '../../../agent/metrics/render/render-json.js';
import { parseAtTime } from '../../../agent/metrics/render/time.js';
import { FakeStore, pointsFrom } from './fake-store.js';

const NOW = 1_700_000_000;

describe('Grafana', () => {
  it('"Save & test": constantLine(100) over -1h answers one series of three points', async () => {
    const from = parseAtTime('-1h', NOW);
    const until = parseAtTime('now', NOW);
    const series = await evaluateTarget('constantLine(100)', {
      from,
      until,
      now: NOW,
      fetch: () => Promise.reject(new Error('constantLine fetches nothing')),
    });
    expect(renderJson(series, 300)).toEqual([
      {
        target: '100.0',
        datapoints: [
          [100, NOW - 3600],
          [100, NOW - 1800],
          [100, NOW],
        ],
        tags: { name: '100.0' },
      },
    ]);
  });

  it('a dashboard query: aliasByNode over a glob, consolidated to maxDataPoints', async () => {
    const from = parseAtTime('-1h', NOW);
    const until = parseAtTime('now', NOW);
    // One point a minute for the hour: 60 points, 10 of them wanted → 6 per point.
    const first = from - (from % 60) + 60;
    const minutes = Array.from({ length: 60 }, (_, i) => i);
    const store = new FakeStore({
      'hosts.web1.cpu': { step: 60, points: pointsFrom(first, 60, minutes) },
      'hosts.web2.cpu': {
        step: 60,
        points: pointsFrom(
          first,
          60,
          minutes.map((m) => m * 2),
        ),
      },
    });
    const series = await evaluateTarget('aliasByNode(hosts.*.cpu, 1)', {
      from,
      until,
      now: NOW,
      fetch: store.fetch,
    });
    const rendered = renderJson(series, 10);
    expect(rendered.map((one) => one.target)).toEqual(['web1', 'web2']);
    const web1 = rendered[0]?.datapoints ?? [];
    expect(web1).toHaveLength(10);
    // Buckets of 6 minutes on multiples of 360 s: the start moves 240 s (4 values) to the next
    // boundary but, as in graphite, only 3 values are dropped, so the first bucket is minutes 3..8.
    expect(web1[0]).toEqual([5.5, first - (first % 360) + 360]);
    expect(web1.every(([, timestamp]) => timestamp % 360 === 0)).toBe(true);
  });
});
