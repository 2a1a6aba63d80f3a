// The detectors subsystem: runs every `detector:` rule once the collectors have data, and keeps
// the node's groups = static `groups:` of agent.yml + the groups of detectors whose rule holds.
// A change is published as `groups-changed` (gossip spreads it; collectors gated on a group start).
import type { MetricFamily } from '../shared/exposition.js';
import type { AgentSettings, Definition, LoadedConfig, PackInfo } from '../config/index.js';
import { definitionBody, parseDurationMs } from '../config/index.js';
import type { EventBus } from '../events/index.js';
import type { Logger } from '../log/index.js';
import type { Route } from '../shared/http.js';
import type { Subsystem } from '../subsystem.js';
import type { SubsystemState } from '../shared/api-types.js';
import { type DetectorDefinition, DetectorDefinitionSchema } from './definition.js';
import { messageOf } from '../shared/errors.js';
import { detectorRoutes } from './routes.js';
import { type DetectorEvaluator, ScheduledDetector } from './scheduled-detector.js';
import { type DetectorStatus } from '../shared/api-types.js';

export interface DetectorsOptions {
  settings: AgentSettings;
  definitions: Definition[];
  packs: PackInfo[];
  evaluator: DetectorEvaluator;
  events: EventBus;
  logger: Logger;
  /** Resolves when the collectors have run once: rules read their data. */
  collectorsReady: () => Promise<void>;
}

export class DetectorsSubsystem implements Subsystem {
  readonly name = 'detectors';
  private detectors: ScheduledDetector[] = [];
  private staticGroups: string[];
  private groups: string[];
  private initialized = false;
  private started = false;
  private stopped = false;
  /** Bumped by every reload: the detectors built by it, and their first pass, carry it. */
  private generation = 0;
  /**
   * The generation whose first pass is done: only its detectors recompute the groups after each
   * run. Until then the groups are published once, at the end of the pass (a reload of the same
   * rules must not drop the detected groups while the new detectors have not run yet).
   */
  private liveGeneration = -1;

  constructor(private readonly options: DetectorsOptions) {
    this.staticGroups = [...options.settings.groups];
    this.groups = [...this.staticGroups].sort();
    this.detectors = this.build(options.definitions, options.packs, this.generation);
  }

  start(): Promise<void> {
    this.started = true;
    // Not awaited: the agent is up (API, gossip) while the first pass runs; state() says initializing.
    void this.firstPass(this.generation);
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.stopped = true;
    for (const detector of this.detectors) detector.stop();
    return Promise.resolve();
  }

  state(): SubsystemState {
    if (!this.initialized) return { status: 'initializing', message: 'first detection pass running' };
    const failing = this.list().filter((status) => status.state === 'ERROR');
    if (failing.length)
      return { status: 'ok', message: `in error: ${failing.map((status) => status.name).join(', ')}` };
    return { status: 'ok' };
  }

  /** The node's groups: static + detected, sorted. */
  nodeGroups(): string[] {
    return [...this.groups];
  }

  staticNodeGroups(): string[] {
    return [...this.staticGroups];
  }

  list(): DetectorStatus[] {
    return this.detectors.map((detector) => detector.status());
  }

  exposition(): MetricFamily[] {
    return [
      {
        name: 'opsbro_detectors',
        help: 'detectors by state (PENDING, OK, ERROR)',
        type: 'gauge',
        labelNames: ['state'],
        samples: () => {
          const counts: Record<string, number> = { PENDING: 0, OK: 0, ERROR: 0 };
          for (const status of this.list()) counts[status.state] = (counts[status.state] ?? 0) + 1;
          return Object.entries(counts).map(([state, value]) => ({ labels: { state }, value }));
        },
      },
    ];
  }

  routes(): Route[] {
    return detectorRoutes(this);
  }

  /**
   * After a reload: new rules, new static groups. The first pass of the new rules runs at once; the
   * node keeps its groups meanwhile and publishes them once, when the pass is done (nothing when
   * they did not change).
   */
  /** A reloaded configuration: the definitions are rebuilt from it. */
  reload(config: LoadedConfig): void {
    this.reloadDefinitions(config.settings, config.definitions, config.packs);
  }

  reloadDefinitions(settings: AgentSettings, definitions: Definition[], packs: PackInfo[]): void {
    for (const detector of this.detectors) detector.stop();
    this.staticGroups = [...settings.groups];
    const generation = ++this.generation;
    this.detectors = this.build(definitions, packs, generation);
    if (this.started && !this.stopped) void this.firstPass(generation);
  }

  private async firstPass(generation: number): Promise<void> {
    await this.options.collectorsReady();
    // A reload meanwhile runs the pass of its own detectors (these are stopped).
    if (this.stopped || generation !== this.generation) return;
    await Promise.all(this.detectors.map((detector) => detector.start()));
    if (this.stopped || generation !== this.generation) return;
    this.liveGeneration = generation;
    this.recompute();
    if (this.initialized) return;
    this.initialized = true;
    this.options.logger.info('detection done', { groups: this.groups.join(',') || '(none)' });
  }

  private recompute(): void {
    const groups = [...new Set([...this.staticGroups, ...this.detectors.flatMap((d) => d.groups)])].sort();
    if (groups.join('\0') === this.groups.join('\0')) return;
    const added = groups.filter((group) => !this.groups.includes(group));
    const removed = this.groups.filter((group) => !groups.includes(group));
    this.groups = groups;
    this.options.logger.info('node groups changed', { added: added.join(','), removed: removed.join(',') });
    this.options.events.emit('groups-changed', { groups: [...groups] });
  }

  private build(definitions: Definition[], packs: PackInfo[], generation: number): ScheduledDetector[] {
    return definitions
      .filter((definition) => definition.kind === 'detector')
      .flatMap((definition) => {
        let body: DetectorDefinition;
        try {
          body = definitionBody(definition, DetectorDefinitionSchema);
        } catch (error) {
          // The loader validated it: only a definition built in code gets here. As collectors do.
          this.options.logger.error('detector definition refused, skipped', {
            detector: definition.name,
            error: messageOf(error),
          });
          return [];
        }
        const parameters = packs.find((pack) => pack.name === definition.pack)?.parameters ?? {};
        return new ScheduledDetector({
          name: definition.name,
          pack: definition.pack,
          source: `${definition.source.file}:${definition.source.line ?? 1}`,
          rule: body.apply_if,
          groups: body.groups,
          intervalMs: parseDurationMs(body.interval),
          scope: { configuration: body, parameters },
          evaluator: this.options.evaluator,
          // During the first pass of its generation, groups are published once, at its end.
          onGroupsChanged: () => {
            if (generation === this.liveGeneration) this.recompute();
          },
        });
      });
  }
}
