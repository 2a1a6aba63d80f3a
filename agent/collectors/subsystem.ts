// The collectors subsystem: builds a ScheduledCollector for every enabled `collector:` definition,
// gates them on the node's groups (application collectors run only where a detector found the
// application), publishes their numbers as metrics on the event bus, and serves their data to the
// evaluator through main.
import type { MetricFamily } from '../shared/exposition.js';
import { join } from 'node:path';
import type { AgentSettings, Definition, LoadedConfig, PackInfo } from '../config/index.js';
import { definitionBody, parseDurationMs } from '../config/index.js';
import type { Route } from '../shared/http.js';
import type { EventBus } from '../events/index.js';
import type { Logger } from '../log/index.js';
import type { Subsystem } from '../subsystem.js';
import type { SubsystemState } from '../shared/api-types.js';
import type { CollectedData, CollectorType, HostPaths } from './collector.js';
import { type CollectorDefinition, collectorDefinitionSchema, substituteParameters } from './definition.js';
import { flattenMetrics } from './flatten.js';
import { IntervalClock } from './interval-clock.js';
import { collectorRoutes } from './routes.js';
import { ScheduledCollector } from './scheduled-collector.js';
import { type CollectorStatus } from '../shared/api-types.js';
import { messageOf } from '../shared/errors.js';

/** A run may not take longer than this unless the definition says so. */
const DEFAULT_MAX_TIMEOUT_MS = 10_000;

export interface CollectorsOptions {
  settings: AgentSettings;
  definitions: Definition[];
  packs: PackInfo[];
  types: ReadonlyMap<string, CollectorType>;
  events: EventBus;
  logger: Logger;
}

export class CollectorsSubsystem implements Subsystem {
  readonly name = 'collectors';
  private collectors = new Map<string, ScheduledCollector>();
  private groups = new Set<string>();
  private started = false;
  private readonly unsubscribe: () => void;
  /** The beats of every interval, at this agent's random offset (see interval-clock.ts). */
  private readonly clock = new IntervalClock(Math.random());
  /**
   * Settles once every collector of the current set has run once or cannot run: the detectors wait
   * for it, at start and after a reload (whose new collectors start with no data).
   */
  private pass!: Promise<void>;
  private passDone!: () => void;
  private passPending = false;
  /** The `collector:` schema for the registered types: definitions are taken through it. */
  private readonly schema: ReturnType<typeof collectorDefinitionSchema>;

  constructor(private readonly options: CollectorsOptions) {
    this.schema = collectorDefinitionSchema([...options.types.keys()]);
    this.unsubscribe = options.events.on('groups-changed', ({ groups }) => this.setGroups(groups));
    this.groups = new Set(options.settings.groups);
    this.collectors = this.build(options.definitions, options.packs, options.settings);
    this.newPass();
  }

  /** Resolves when every collector of the current set has run once (or is not eligible). */
  ready(): Promise<void> {
    return this.pass;
  }

  start(): Promise<void> {
    this.started = true;
    for (const collector of this.collectors.values()) collector.updateEligibility(this.groups);
    this.checkPass();
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.started = false;
    this.unsubscribe();
    await Promise.all([...this.collectors.values()].map((collector) => collector.stop()));
    this.clock.stop();
  }

  state(): SubsystemState {
    const statuses = this.list();
    const pending = statuses.filter((status) => status.state === 'PENDING');
    if (pending.length) return { status: 'initializing', message: `${pending.length} collector(s) pending` };
    const failing = statuses.filter((status) => status.state === 'ERROR');
    if (failing.length)
      return { status: 'ok', message: `in error: ${failing.map((status) => status.name).join(', ')}` };
    return { status: 'ok' };
  }

  /** Re-reads definitions: collectors are rebuilt (their rate baselines restart). */
  /** A reloaded configuration: the definitions are rebuilt from it. */
  reload(config: LoadedConfig): void {
    this.reloadDefinitions(config.settings, config.definitions, config.packs);
  }

  reloadDefinitions(settings: AgentSettings, definitions: Definition[], packs: PackInfo[]): void {
    const next = this.build(definitions, packs, settings);
    const previous = this.collectors;
    this.collectors = next;
    this.newPass();
    for (const collector of previous.values()) void collector.stop();
    // The groups stay those of the last groups-changed: the detectors publish the new ones after a reload.
    if (this.started) {
      for (const collector of next.values()) collector.updateEligibility(this.groups);
      this.checkPass();
    }
  }

  list(): CollectorStatus[] {
    return [...this.collectors.values()].map((collector) => collector.status());
  }

  exposition(): MetricFamily[] {
    const per = (pick: (status: CollectorStatus) => number) => () =>
      this.list().map((status) => ({ labels: { collector: status.name }, value: pick(status) }));
    return [
      {
        name: 'opsbro_collector_runs_total',
        help: 'collector runs, by collector',
        type: 'counter',
        labelNames: ['collector'],
        samples: per((status) => status.runs),
      },
      {
        name: 'opsbro_collector_errors_total',
        help: 'collector runs that failed, by collector',
        type: 'counter',
        labelNames: ['collector'],
        samples: per((status) => status.errors),
      },
      {
        name: 'opsbro_collector_up',
        help: '1 when the collector last ran fine (state OK), else 0',
        type: 'gauge',
        labelNames: ['collector'],
        samples: per((status) => (status.state === 'OK' ? 1 : 0)),
      },
    ];
  }

  routes(): Route[] {
    return collectorRoutes(this);
  }

  show(name: string): (CollectorStatus & { data?: CollectedData }) | undefined {
    const collector = this.collectors.get(name);
    return collector && { ...collector.status(), data: collector.lastData() };
  }

  /** The last good data of a collector: the evaluator's {collector.NAME.…}. */
  data(name: string): CollectedData | undefined {
    return this.collectors.get(name)?.lastData();
  }

  private setGroups(groups: string[]): void {
    this.groups = new Set(groups);
    if (!this.started) return;
    for (const collector of this.collectors.values()) collector.updateEligibility(this.groups);
  }

  private newPass(): void {
    this.pass = new Promise<void>((resolve) => (this.passDone = resolve));
    this.passPending = true;
  }

  /** Called after every run: cheap once the pass is done. */
  private checkPass(): void {
    if (!this.passPending) return;
    for (const collector of this.collectors.values()) if (!collector.settled) return;
    this.passPending = false;
    this.passDone();
  }

  private build(
    definitions: Definition[],
    packs: PackInfo[],
    settings: AgentSettings,
  ): Map<string, ScheduledCollector> {
    const collectors = new Map<string, ScheduledCollector>();
    const paths = hostPaths(settings);
    for (const definition of definitions) {
      if (definition.kind !== 'collector') continue;
      const where = `${definition.source.file}:${definition.source.line ?? 1}`;
      let body: CollectorDefinition;
      try {
        body = definitionBody(definition, this.schema);
      } catch (error) {
        // The loader validated it: only a definition built in code (or a type unregistered) gets here.
        this.options.logger.error('collector definition refused, skipped', {
          collector: definition.name,
          where,
          error: messageOf(error),
        });
        continue;
      }
      if (!body.enabled) continue;
      const type = this.options.types.get(body.type)!;
      const parameters = packs.find((pack) => pack.name === definition.pack)?.parameters ?? {};
      let pluginSettings: Record<string, string | number | boolean>;
      try {
        pluginSettings = { ...type.defaultSettings, ...substituteParameters(body.settings, parameters) };
      } catch (error) {
        this.options.logger.error('collector settings refused, collector skipped', {
          collector: definition.name,
          where,
          error: messageOf(error),
        });
        continue;
      }
      const intervalMs = parseDurationMs(body.interval);
      collectors.set(
        definition.name,
        new ScheduledCollector({
          name: definition.name,
          type: body.type,
          pack: definition.pack,
          source: where,
          intervalMs,
          timeoutMs: body.timeout
            ? parseDurationMs(body.timeout)
            : Math.min(intervalMs, DEFAULT_MAX_TIMEOUT_MS),
          ifGroup: body.if_group,
          instance: type.create(pluginSettings),
          paths,
          clock: this.clock,
          onData: (name, data, atMs) => this.publish(name, data, atMs),
          onRun: () => this.checkPass(),
          onStateChange: (status) => {
            if (status.state === 'ERROR')
              this.options.logger.warn('collector failing', {
                collector: status.name,
                error: status.message,
              });
            else if (status.state === 'OK' && status.errors > 0)
              this.options.logger.info('collector recovered', { collector: status.name });
          },
        }),
      );
    }
    return collectors;
  }

  private publish(name: string, data: CollectedData, atMs: number): void {
    // Until the metrics subsystem subscribes, flattening would only feed the garbage collector.
    if (!this.options.events.hasListeners('metrics')) return;
    const metrics = flattenMetrics(name, data);
    this.options.events.emit('metrics', { source: `collector:${name}`, timestamp: atMs, metrics });
  }
}

/** paths: with proc/sys defaulting under root. */
export function hostPaths(settings: AgentSettings): HostPaths {
  const { root, proc, sys } = settings.paths;
  return { root, proc: proc || join(root, 'proc'), sys: sys || join(root, 'sys') };
}
