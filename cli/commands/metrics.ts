// `opsbro metrics list [GLOB]` and `opsbro metrics show TARGET`: the metrics store through the local
// agent's graphite-compatible routes (/metrics/index.json, /metrics/expand, /render). `show` draws
// each series as a terminal sparkline with its last, lowest and highest values.
import { Command } from 'commander';
import { type ReadOptions, withApiOptions, withJson } from '../api-options.js';
import { AgentClient } from '../client.js';
import { CliError, EXIT_ERROR } from '../errors.js';
import { printJson, table } from '../output.js';

interface RenderedSeries {
  target: string;
  datapoints: Array<[number | null, number]>;
}

const BARS = '▁▂▃▄▅▆▇█';
/** Points a sparkline shows at most (a wider terminal does not need more). */
const SPARK_WIDTH = 60;

export function metricsCommand(): Command {
  const metrics = new Command('metrics').description(
    'the time series this node keeps (statsd, graphite, collectors)',
  );

  withJson(
    withApiOptions(
      metrics
        .command('list')
        .description('the series whose names match GLOB (graphite globs: web*.cpu.*, {a,b}); all without one')
        .argument('[glob]', 'a graphite path glob'),
    ),
  ).action(async (glob: string | undefined, options: ReadOptions) => {
    const client = new AgentClient(options);
    const names = glob
      ? (
          await client.get<{ results: string[] }>(
            `/metrics/expand?leavesOnly=1&query=${encodeURIComponent(glob)}`,
          )
        ).results
      : await client.get<string[]>('/metrics/index.json');
    if (options.json) return printJson(names);
    process.stdout.write(names.map((name) => `${name}\n`).join(''));
  });

  withJson(
    withApiOptions(
      metrics
        .command('show')
        .description('the values of TARGET (a series, a glob or a render function) as sparklines')
        .argument('<target>', 'e.g. web.requests, stats.timers.*.mean, sumSeries(web*.cpu.user)')
        .option('--from <time>', 'graphite time: -1h, -7d, 20261205, 12:00_20261205', '-1h')
        .option('--until <time>', 'graphite time', 'now'),
    ),
  ).action(async (target: string, options: ReadOptions & { from: string; until: string }) => {
    const query = new URLSearchParams({ target, from: options.from, until: options.until, format: 'json' });
    const rendered = await new AgentClient(options).get<RenderedSeries[]>(`/render?${query.toString()}`);
    if (options.json) return printJson(rendered);
    if (!rendered.length)
      throw new CliError(`no values for ${target} from ${options.from} until ${options.until}`, EXIT_ERROR);
    const rows = rendered.map((series) => {
      const values = series.datapoints.map(([value]) => value);
      const known = values.filter((value): value is number => value !== null);
      const last = known.at(-1);
      return [
        series.target,
        sparkline(values),
        last === undefined ? '-' : formatValue(last),
        known.length ? formatValue(Math.min(...known)) : '-',
        known.length ? formatValue(Math.max(...known)) : '-',
      ];
    });
    process.stdout.write(
      table(['SERIES', `${options.from} .. ${options.until}`, 'LAST', 'MIN', 'MAX'], rows),
    );
  });

  return metrics;
}

/** The values as bars from lowest to highest (blank where none), averaged down to SPARK_WIDTH. */
export function sparkline(values: Array<number | null>): string {
  const perBar = Math.max(1, Math.ceil(values.length / SPARK_WIDTH));
  const bars: Array<number | null> = [];
  for (let at = 0; at < values.length; at += perBar) {
    const known = values.slice(at, at + perBar).filter((value): value is number => value !== null);
    bars.push(known.length ? known.reduce((sum, value) => sum + value, 0) / known.length : null);
  }
  const known = bars.filter((value): value is number => value !== null);
  const low = Math.min(...known);
  const high = Math.max(...known);
  return bars
    .map((value) => {
      if (value === null) return ' ';
      if (high === low) return BARS[3];
      return BARS[Math.min(BARS.length - 1, Math.floor(((value - low) / (high - low)) * BARS.length))];
    })
    .join('');
}

function formatValue(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return Math.abs(value) >= 100 ? value.toFixed(1) : Number(value.toPrecision(4)).toString();
}
