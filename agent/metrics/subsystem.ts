// The metrics subsystem (docs/metrics.md): what applications send to the statsd and graphite
// listeners, what collectors measure and checks' perfdata, all into one time-series store in the
// data dir, read back by the graphite-compatible render API (routes.ts).
import type { MetricFamily } from '../shared/exposition.js';
import { hostname } from 'node:os';
import type { Socket as UdpSocket } from 'node:dgram';
import type { AgentSettings } from '../config/index.js';
import type { EventBus } from '../events/index.js';
import type { Logger } from '../log/index.js';
import type { SubsystemState } from '../shared/api-types.js';
import { parseHostPort } from '../shared/addresses.js';
import { messageOf } from '../shared/errors.js';
import type { Route } from '../shared/http.js';
import type { Store } from '../store/index.js';
import type { Subsystem } from '../subsystem.js';
import { readGraphiteLineAt } from './graphite-parser.js';
import { closeUdp, LineServer, listenUdp, type ListenerCounters } from './listeners.js';
import {
  ClusterQueries,
  mergeSameNames,
  METRICS_PROTOCOL,
  metricsRpcHandler,
  type MetricsCluster,
  type TreeNode,
} from './cluster.js';
import { CarbonForwarder, type ForwarderStats } from './forwarder.js';
import { metricsRoutes } from './routes.js';
import { mergeTreeNodes, namesMatching, treeNodes } from './tree.js';
import { DEFAULT_MAX_KEYS, StatsdAggregator } from './statsd-aggregator.js';
import { StatsdReaders, type StatsdReadersStats } from './statsd-readers.js';
import { parseRetention, RetentionPolicy } from './tsdb/retention.js';
import { SeriesStore, type FetchedSeries, type SeriesStoreStats } from './tsdb/series-store.js';

/** Series a render reads from the store at once. */
const FETCH_PARALLEL = 16;
/** How often series past their retention are looked for. */
const EXPIRY_INTERVAL_MS = 10 * 60_000;

export interface MetricsSubsystemOptions {
  settings: AgentSettings;
  store: Store;
  events: EventBus;
  logger: Logger;
  /** The clock (ms since the epoch); tests drive it. */
  now?: () => number;
  /** Whether the timers run (tests call flushStatsd/flushStore themselves). */
  timers?: boolean;
  /** The other members, for queries that include their series (none: this node's only). */
  cluster?: MetricsCluster;
}

export interface MetricsStats {
  enabled: boolean;
  ports: { statsd?: number; graphite?: number };
  store: SeriesStoreStats;
  statsd: { packets: number; bad_lines: number; dropped_keys: number; readers: StatsdReadersStats };
  graphite: ListenerCounters & { lines: number; bad_lines: number };
  /** Queries that include the other members: on, and members that did not answer in time. */
  cluster: { enabled: boolean; failures: number };
  /** Each carbon server of graphite.forward: connected, queued, sent, dropped. */
  forward: ForwarderStats[];
}

export class MetricsSubsystem implements Subsystem {
  readonly name = 'metrics';
  readonly series: SeriesStore;
  private readonly aggregator: StatsdAggregator;
  private readonly clock: () => number;
  /** This node's name as a metric path node (dots would split it). */
  readonly nodePath: string;
  private statsdSocket?: UdpSocket;
  private graphiteUdp?: UdpSocket;
  private readonly graphiteTcp: LineServer;
  private readonly graphiteCounters: ListenerCounters & { lines: number; bad_lines: number } = {
    udp_packets: 0,
    tcp_connections: 0,
    tcp_refused: 0,
    oversized_lines: 0,
    lines: 0,
    bad_lines: 0,
  };
  private statsdCounters = { packets: 0, bad_lines: 0 };
  /** statsdCounters.packets at the last statsd flush: what came since is the interval's. */
  private packetsAtLastFlush = 0;
  private readonly statsdReaders: StatsdReaders;
  private readonly ports: { statsd?: number; graphite?: number } = {};
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly unsubscribes: Array<() => void> = [];
  private started = false;
  private readonly clusterQueries?: ClusterQueries;
  private readonly forwarder: CarbonForwarder;

  constructor(private readonly options: MetricsSubsystemOptions) {
    const { settings } = options;
    this.clock = options.now ?? Date.now;
    this.nodePath = metricNode(settings.node_name || hostname());
    // The loader refused retention strings and patterns that do not parse (config/loader.ts).
    const policy = new RetentionPolicy(
      parseRetention(settings.metrics.retention),
      settings.metrics.rules.map((rule) => ({
        pattern: new RegExp(rule.pattern),
        ...(rule.retention ? { archives: parseRetention(rule.retention) } : {}),
        ...(rule.aggregation ? { aggregation: rule.aggregation } : {}),
      })),
    );
    this.series = new SeriesStore({
      namespace: options.store.sublevel('metrics'),
      policy,
      maxSeries: settings.metrics.max_series,
      now: this.clock,
      onSeriesLimit: (name, maxSeries) =>
        options.logger.warn('metrics: series limit reached, points of new series are dropped', {
          series: name,
          max_series: maxSeries,
          setting: 'metrics.max_series',
        }),
    });
    this.aggregator = new StatsdAggregator({
      percentThresholds: settings.statsd.percent_thresholds,
      flushIntervalMs: settings.statsd.interval * 1000,
    });
    this.statsdReaders = new StatsdReaders({
      maxReaders: settings.statsd.readers,
      maxKeys: DEFAULT_MAX_KEYS,
      logger: options.logger,
      now: this.clock,
    });
    this.graphiteTcp = new LineServer(
      (text, start, end) => this.ingestGraphiteLine(text, start, end),
      this.graphiteCounters,
      undefined,
      (read) => this.graphiteChunk(read),
    );
    // The loader refused what does not parse (config/loader.ts, checkMetrics).
    this.forwarder = new CarbonForwarder(
      settings.graphite.forward.map((text) => parseHostPort(text, 2003)!),
      { maxQueued: settings.graphite.forward_queue },
    );
    const { cluster } = options;
    if (cluster && settings.metrics.enabled) {
      if (settings.metrics.cluster_queries) this.clusterQueries = new ClusterQueries(cluster);
      // Served before gossip starts; answered once the store is open.
      const handler = metricsRpcHandler({
        find: (pattern) => treeNodes(this.series.names(), pattern),
        fetchMatching: (pattern, from, until) => this.fetchLocal(pattern, from, until),
      });
      cluster.serveProtocol(METRICS_PROTOCOL, (request, remote) =>
        this.started
          ? handler(request, remote)
          : Promise.reject(new Error('the metrics store of this node is not open')),
      );
    }
  }

  async start(): Promise<void> {
    const { settings, events, logger } = this.options;
    if (!settings.metrics.enabled) return;
    await this.series.open();
    this.started = true;
    this.unsubscribes.push(
      events.on('metrics', ({ source, timestamp, metrics }) => {
        // Collectors' names are `<collector>.<path>`; checks' `<check>.<label>`.
        const prefix = source.startsWith('check:') ? `${this.nodePath}.checks.` : `${this.nodePath}.`;
        const seconds = Math.floor(timestamp / 1000);
        for (const [name, value] of metrics) this.record(prefix + name, seconds, value);
      }),
    );
    const { statsd, graphite } = settings;
    if (statsd.enabled) {
      this.statsdSocket = await this.listening('statsd', statsd.bind, statsd.port, 'udp', (port) =>
        listenUdp(statsd.bind, port, (packet) => this.ingestStatsdPacket(packet)),
      );
      this.ports.statsd = this.statsdSocket.address().port;
      this.statsdReaders.attach(this.statsdSocket);
    }
    if (graphite.enabled && graphite.tcp) {
      this.ports.graphite = await this.listening('graphite', graphite.bind, graphite.port, 'tcp', (port) =>
        this.graphiteTcp.listen(graphite.bind, port),
      );
    }
    if (graphite.enabled && graphite.udp) {
      // On the TCP listener's port when it chose one (port 0), as graphite's clients expect one port.
      const port = this.ports.graphite ?? graphite.port;
      this.graphiteUdp = await this.listening('graphite', graphite.bind, port, 'udp', (chosen) =>
        listenUdp(graphite.bind, chosen, (packet) => this.ingestGraphitePacket(packet)),
      );
      this.ports.graphite ??= this.graphiteUdp.address().port;
    }
    if (this.options.timers !== false) {
      const every = (ms: number, task: () => Promise<unknown> | void): void => {
        const timer = setInterval(() => {
          void Promise.resolve()
            .then(task)
            .catch((error: unknown) =>
              logger.warn('metrics: a periodic task failed', { error: messageOf(error) }),
            );
        }, ms);
        timer.unref();
        this.timers.push(timer);
      };
      every(statsd.interval * 1000, () => this.flushStatsd());
      every(settings.metrics.flush_interval_s * 1000, () => this.flushStore());
      every(EXPIRY_INTERVAL_MS, () => this.series.expire());
    }
    logger.info('metrics listening', {
      ...(this.ports.statsd !== undefined ? { statsd: `${statsd.bind}:${this.ports.statsd}/udp` } : {}),
      ...(this.ports.graphite !== undefined ? { graphite: `${graphite.bind}:${this.ports.graphite}` } : {}),
      series: this.series.size,
    });
  }

  async stop(): Promise<void> {
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    for (const unsubscribe of this.unsubscribes.splice(0)) unsubscribe();
    await this.statsdReaders.stop();
    await Promise.all([closeUdp(this.statsdSocket), closeUdp(this.graphiteUdp), this.graphiteTcp.close()]);
    this.forwarder.close();
    this.statsdSocket = undefined;
    this.graphiteUdp = undefined;
    // What came since the last flush (the store closes after every subsystem has stopped).
    if (this.started) await this.flushStore();
    this.started = false;
  }

  state(): SubsystemState {
    return { status: 'ok' };
  }

  routes(): Route[] {
    return metricsRoutes(this);
  }

  get enabled(): boolean {
    return this.options.settings.metrics.enabled;
  }

  exposition(): MetricFamily[] {
    const counter = (name: string, help: string, value: () => number): MetricFamily => ({
      name,
      help,
      type: 'counter',
      samples: () => [{ value: value() }],
    });
    return [
      {
        name: 'opsbro_metrics_series',
        help: 'series in the metrics store',
        type: 'gauge',
        samples: () => [{ value: this.series.size }],
      },
      counter('opsbro_metrics_points_total', 'points stored', () => this.series.stats().points),
      {
        name: 'opsbro_metrics_dropped_points_total',
        help: 'points not stored, by reason (late: older than the open slot or the retention; series_limit)',
        type: 'counter',
        labelNames: ['reason'],
        samples: () => {
          const stats = this.series.stats();
          return [
            { labels: { reason: 'late' }, value: stats.dropped_late_points },
            { labels: { reason: 'series_limit' }, value: stats.dropped_series_points },
          ];
        },
      },
      counter('opsbro_statsd_packets_total', 'statsd packets received', () => this.statsdCounters.packets),
      {
        name: 'opsbro_statsd_readers',
        help: 'statsd reader processes running beside the agent (started under load)',
        type: 'gauge',
        samples: () => [{ value: this.statsdReaders.stats().running }],
      },
      counter('opsbro_statsd_bad_lines_total', 'statsd lines refused', () => this.statsdCounters.bad_lines),
      counter('opsbro_graphite_lines_total', 'graphite lines received', () => this.graphiteCounters.lines),
      counter(
        'opsbro_graphite_bad_lines_total',
        'graphite lines refused',
        () => this.graphiteCounters.bad_lines,
      ),
      counter(
        'opsbro_graphite_tcp_connections_total',
        'graphite TCP connections accepted',
        () => this.graphiteCounters.tcp_connections,
      ),
    ];
  }

  /** The clock, in ms (the render API's `now`). */
  now(): number {
    return this.clock();
  }

  names(): Iterable<string> {
    return this.series.names();
  }

  async find(query: string, options: { local: boolean }): Promise<TreeNode[]> {
    const here = treeNodes(this.series.names(), query);
    if (options.local || !this.clusterQueries) return here;
    return mergeTreeNodes([here, await this.clusterQueries.find(query)]);
  }

  async fetchSeries(
    pattern: string,
    fromSeconds: number,
    untilSeconds: number,
    options: { local: boolean },
  ): Promise<FetchedSeries[]> {
    const [here, others] = await Promise.all([
      this.fetchLocal(pattern, fromSeconds, untilSeconds),
      options.local || !this.clusterQueries
        ? []
        : this.clusterQueries.fetch(pattern, fromSeconds, untilSeconds),
    ]);
    return mergeSameNames([...here, ...others]).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
  }

  /** This node's series a path expression matches, fetched over the window. */
  private async fetchLocal(
    pattern: string,
    fromSeconds: number,
    untilSeconds: number,
  ): Promise<FetchedSeries[]> {
    const names = namesMatching(this.series.names(), pattern);
    const found: FetchedSeries[] = [];
    // Several series read at once: each read waits on LevelDB's thread pool, not on the CPU.
    for (let at = 0; at < names.length; at += FETCH_PARALLEL) {
      const fetched = await Promise.all(
        names
          .slice(at, at + FETCH_PARALLEL)
          .map((name) => this.series.fetch(name, fromSeconds, untilSeconds)),
      );
      for (const one of fetched) if (one) found.push(one);
    }
    return found;
  }

  get listeningPorts(): { statsd?: number; graphite?: number } {
    return { ...this.ports };
  }

  /** The statsd interval's values into the store, stamped now (statsd's flush). */
  async flushStatsd(): Promise<void> {
    const own = this.statsdCounters.packets - this.packetsAtLastFlush;
    for (const snapshot of await this.statsdReaders.collect(this.options.settings.statsd.interval, own)) {
      this.aggregator.merge(snapshot);
      this.statsdCounters.packets += snapshot.packets;
      this.statsdCounters.bad_lines += snapshot.badLines;
    }
    this.packetsAtLastFlush = this.statsdCounters.packets;
    const seconds = Math.floor(this.clock() / 1000);
    for (const [name, value] of this.aggregator.flush(this.clock())) this.record(name, seconds, value);
  }

  /** The store's in-memory points to disk. */
  flushStore(): Promise<void> {
    return this.series.flush();
  }

  statistics(): MetricsStats {
    return {
      enabled: this.enabled,
      ports: { ...this.ports },
      store: this.series.stats(),
      statsd: {
        ...this.statsdCounters,
        dropped_keys: this.aggregator.droppedKeys,
        readers: this.statsdReaders.stats(),
      },
      graphite: { ...this.graphiteCounters },
      cluster: { enabled: this.clusterQueries !== undefined, failures: this.clusterQueries?.failures ?? 0 },
      forward: this.forwarder.stats(),
    };
  }

  ingestStatsdPacket(packet: Uint8Array): void {
    this.statsdCounters.packets++;
    this.statsdCounters.bad_lines += this.aggregator.ingest(packet);
  }

  private ingestGraphitePacket(packet: Buffer): void {
    this.graphiteCounters.udp_packets++;
    this.graphiteChunk(() => {
      for (const line of packet.toString('latin1').split('\n')) {
        if (line.length > 0 && line !== '\r')
          this.ingestGraphiteLine(line.endsWith('\r') ? line.slice(0, -1) : line);
      }
    });
  }

  /** One line, text[start, end) (the whole text by default). */
  ingestGraphiteLine(text: string, start = 0, end = text.length): void {
    this.graphiteCounters.lines++;
    // The clock read once per TCP chunk or UDP packet (see graphiteChunk), else now.
    if (!this.inChunk) this.lineNowSeconds = Math.floor(this.clock() / 1000);
    if (!readGraphiteLineAt(text, start, end, this.lineNowSeconds, this.recordPoint))
      this.graphiteCounters.bad_lines++;
  }

  /** The lines of one TCP chunk or UDP packet, read with one clock reading (they arrived together). */
  private graphiteChunk(read: () => void): void {
    this.lineNowSeconds = Math.floor(this.clock() / 1000);
    this.inChunk = true;
    try {
      read();
    } finally {
      this.inChunk = false;
    }
  }

  /** The clock (whole seconds) the graphite lines being read are stamped with and stored at. */
  private lineNowSeconds = 0;
  private inChunk = false;

  /** record(), bound once: the graphite listener hands it every point. */
  private readonly recordPoint = (name: string, timestampSeconds: number, value: number): void =>
    this.record(name, timestampSeconds, value, this.lineNowSeconds);

  /** A point into the store, and to the carbon servers of graphite.forward. */
  private record(name: string, timestampSeconds: number, value: number, nowSeconds?: number): void {
    this.series.add(name, timestampSeconds, value, nowSeconds);
    this.forwarder.push(name, timestampSeconds, value);
  }

  private async listening<T>(
    what: string,
    bind: string,
    port: number,
    protocol: 'udp' | 'tcp',
    open: (port: number) => Promise<T>,
  ): Promise<T> {
    try {
      return await open(port);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why =
        code === 'EADDRINUSE'
          ? 'the port is already in use (another statsd or carbon?)'
          : code === 'EACCES'
            ? 'permission denied'
            : messageOf(error);
      throw new Error(`${what} cannot listen on ${bind}:${port}/${protocol}: ${why}`, { cause: error });
    }
  }
}

/** A node name as one node of a metric path: dots and spaces would split or break it. */
export function metricNode(name: string): string {
  return name.replace(/[.\s]/g, '_').replace(/[^A-Za-z0-9_-]/g, '') || 'unknown';
}
