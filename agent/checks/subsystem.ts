// The checks subsystem: builds a check from every enabled `check:` definition, runs the ones this
// node's groups allow through the scheduler (spread, bounded, never two runs of one check at once),
// bounds each run by its timeout, turns results into soft/hard states (state-machine.ts), keeps
// history, and tells the rest of the agent: `check-state-change` on hard changes (handlers),
// `check-table-changed` on every change of its table (gossip), perfdata on `metrics`.
import type { MetricFamily } from '../shared/exposition.js';
import type { Definition, LoadedConfig, PackInfo } from '../config/index.js';
import { definitionBody } from '../config/index.js';
import type { CheckStateChangeEvent, EventBus } from '../events/index.js';
import type { Logger } from '../log/index.js';
import { RateLimitedLog } from '../log/index.js';
import type {
  CheckDetail,
  CheckPlacement,
  MegaphoneRegistration,
  CheckState,
  CheckResultRecord,
  CheckRunAnswer,
  CheckSchedulerAnswer,
  CheckStatus,
  NodeCheckTable,
  NodeMonitoringState,
  StatusAnswer,
  StatusOverride,
  TargetStatus,
  SubsystemState,
} from '../shared/api-types.js';
import { messageOf } from '../shared/errors.js';
import type { Route } from '../shared/http.js';
import type { Subsystem } from '../subsystem.js';
import type { CheckDependencies, CheckNode, CheckResult, CheckType } from './check-type.js';
import { CheckTable } from './check-table.js';
import { CheckDefinitionSchema, checkTiming, checkTypeOf } from './definition.js';
import type { CheckHistory } from './history.js';
import { type LiveCheckSettings, LiveCheck } from './live-check.js';
import { capOutput } from './output-cap.js';
import { OverrideStore } from './override-store.js';
import { checkRoutes } from './routes.js';
import { targetRoutes } from './target-routes.js';
import { platusRoutes } from './platus-routes.js';
import { megaphoneRoutes } from './megaphone-routes.js';
import { definitionOf, MAX_REGISTRATIONS, RegistrationRefused, RegistryStore } from './registry-store.js';
import { schemaCheck } from '../shared/schema-check.js';
import { CheckScheduler, type CheckTime, SYSTEM_CHECK_TIME } from './scheduler.js';
import type { Transition } from './state-machine.js';
import { withVaultSecrets } from './vault/secrets.js';
import { worstOf } from './worst-of.js';
import { CheckSwitches, type SwitchNews, type SwitchStore } from './switches.js';
import { defaultQuorum } from './placement.js';
import { type PlacedCheck, PlacedChecks, type PlacementMember } from './placed-checks.js';
import { formatSeconds } from '../shared/format.js';

/** Recent results and changes `GET /monitoring/checks/NAME` shows. */
const DETAIL_RESULTS = 20;
const DETAIL_CHANGES = 50;

/** How long a run past its timeout may take to wind down (a plugin's SIGKILL grace is 2 s). */
const SETTLE_AFTER_TIMEOUT_MS = 5000;

/** How long stop() waits for history writes and runners' close() before it lets go. */
const STOP_WAIT_MS = 1500;

export interface ChecksOptions {
  definitions: readonly Definition[];
  packs: readonly PackInfo[];
  types: ReadonlyMap<string, CheckType>;
  dependencies: CheckDependencies;
  history: CheckHistory;
  events: EventBus;
  logger: Logger;
  /** This node: its name and id for events and the table; `address` is read at each run. */
  node: { name: string; id: string; hostname: string; address: () => string };
  /** The node's groups now (static + detected); later changes arrive as `groups-changed`. */
  groups: () => readonly string[];
  /** Where the override is kept (`<data-dir>/status-override.json`). */
  overrideFile: string;
  /**
   * Where the checks registered at run time are kept (`<data-dir>/registered-checks.json`,
   * megaphone's `POST /checks`); without it they last until the agent stops.
   */
  registryFile?: string;
  /** Resolves when the collectors have run once: evaluated checks read their data. */
  collectorsReady?: () => Promise<void>;
  /** Every node's check table, from gossip (undefined: only this node's is known). */
  clusterTables?: () => NodeCheckTable[];
  /** Checks switched off cluster-wide (`targets NAME disable`): the KV key, its news, the data-dir copy. */
  switches?: { store: SwitchStore; news: SwitchNews; file: string };
  /** The cluster's members with their groups, from gossip (undefined: this node alone). */
  members?: () => readonly PlacementMember[];
  /** Runs at once, at most; the others queue. */
  maxConcurrent?: number;
  /** Runs due this close together start together, up to this much early (0: each at its due time). */
  startWindowMs?: number;
  /** The clock and timers: Node's by default, the test's own in tests. */
  time?: CheckTime;
}

/** Why a run was abandoned without a result: the check changed, went away, or the agent stops. */
class RunCancelled extends Error {}

/** A run past its timeout. */
class RunTimedOut extends Error {}

export class ChecksSubsystem implements Subsystem {
  readonly name = 'checks';
  private checks = new Map<string, LiveCheck>();
  /** The checks of this node now: enabled, and in their if_group. */
  private readonly active = new Set<string>();
  private groups: Set<string>;
  private readonly scheduler: CheckScheduler;
  private readonly maxConcurrent: number;
  private readonly table: CheckTable;
  private readonly overrides: OverrideStore;
  private override?: StatusOverride;
  private readonly time: CheckTime;
  /** History writes under way: stop() waits for them (bounded). */
  private readonly writes = new Set<Promise<unknown>>();
  private readonly historyErrors: RateLimitedLog;
  private lastHistoryError?: string;
  private readonly unsubscribes: Array<() => void> = [];
  /** The combined hard state last seen of each placed check: a change is announced by its first runner. */
  private readonly placed: PlacedChecks;
  private readonly switches?: CheckSwitches;
  /** Set once the statuses are restored and the collectors have data: runs are scheduled. */
  private running = false;
  /** Resolves when `running` is set, or the subsystem stops: what a run on demand waits for. */
  private ready: Promise<void>;
  private markReady!: () => void;
  private stopped = false;
  /** The configuration's definitions and packs in effect: the options', then each reload's. */
  private config: { definitions: readonly Definition[]; packs: readonly PackInfo[] };
  /** Runtime registrations (megaphone's /checks), by id: checks beside the configuration's. */
  private registrations = new Map<string, MegaphoneRegistration>();
  private readonly registry?: RegistryStore;
  /** Registrations whose id a configured check took since: logged once, not run. */
  private readonly shadowed = new Set<string>();
  /** Set once start() built the checks: a registration before applies at start. */
  private built = false;

  constructor(private readonly options: ChecksOptions) {
    this.time = options.time ?? SYSTEM_CHECK_TIME;
    this.groups = new Set(options.groups());
    this.maxConcurrent = options.maxConcurrent ?? 32;
    this.scheduler = new CheckScheduler({
      time: this.time,
      maxConcurrent: this.maxConcurrent,
      startWindowMs: options.startWindowMs ?? 0,
      // The nodes of a cluster do not all run the same check in the same instant.
      phaseSeed: options.node.id,
      onRunError: (name, error) =>
        options.logger.error('a check run failed unexpectedly', { check: name, error }),
    });
    this.overrides = new OverrideStore(options.overrideFile);
    this.config = { definitions: options.definitions, packs: options.packs };
    if (options.registryFile) {
      this.registry = new RegistryStore(options.registryFile);
      // Read here, not at start(): the API may take a registration before start().
      for (const registration of this.registry.load((problem) =>
        options.logger.error('registered checks file damaged: restored what could be read', {
          error: problem,
        }),
      ))
        this.registrations.set(registration.id, registration);
    }
    this.historyErrors = new RateLimitedLog(
      (message, fields) => options.logger.warn(message, fields),
      () => this.time.now(),
    );
    this.ready = new Promise<void>((resolve) => (this.markReady = resolve));
    this.placed = new PlacedChecks({
      self: { id: options.node.id, name: options.node.name },
      groups: () => this.groups,
      ...(options.members ? { members: options.members } : {}),
      tables: () => this.tables(),
      localBrief: (name) => (this.active.has(name) ? this.checks.get(name)?.brief() : undefined),
      announce: (name, change) => {
        const check = this.checks.get(name);
        if (!check) return;
        this.options.logger.info('placed check state change', { check: name, ...change });
        this.emitHardChange(check, { ...change, attempt: 1 }, this.time.now());
      },
      timers: this.time.timers,
    });
    if (options.switches)
      this.switches = new CheckSwitches({
        ...options.switches,
        timers: this.time.timers,
        logger: options.logger,
        onChange: () => this.updateActive(),
      });
    this.table = new CheckTable(options.node, this.time.now(), (change) =>
      options.events.emit('check-table-changed', change),
    );
    // The checks are built at start(), with the statuses history kept for them.
  }

  async start(): Promise<void> {
    this.override = this.overrides.load((error) =>
      this.options.logger.error('status override file unreadable: CRITICAL until cleared', { error }),
    );
    let kept = new Map<string, CheckStatus>();
    try {
      kept = await this.options.history.lastStatuses();
    } catch (error) {
      this.options.logger.error('check statuses could not be read from history: checks start pending', {
        error: messageOf(error),
      });
    }
    // Built anew with what each check had reached: a restart resumes soft/hard and flapping.
    this.checks = this.build(this.withRegistered(this.config.definitions), this.config.packs, kept);
    this.built = true;
    const gone = [...kept.keys()].filter((name) => !this.checks.has(name));
    if (gone.length) void this.track(this.options.history.forget(gone), 'forget');
    this.unsubscribes.push(
      this.options.events.on('groups-changed', ({ groups }) => {
        this.groups = new Set(groups);
        this.updateActive();
      }),
    );
    // Placed checks move when a member arrives, leaves, dies or changes groups.
    for (const event of ['node-join', 'node-update', 'node-dead', 'node-leave'] as const)
      this.unsubscribes.push(this.options.events.on(event, () => this.updateActive()));
    this.table.apply({ override: this.override ?? null });
    this.updateActive();
    this.switches?.start();
    // Not awaited: the agent is up while the collectors' first pass runs; state() says initializing.
    void (this.options.collectorsReady?.() ?? Promise.resolve()).then(() => {
      if (this.stopped) return;
      this.running = true;
      for (const name of this.active) this.schedule(this.checks.get(name)!);
      this.markReady();
      this.placed.watch(() => this.placedChecks());
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const unsubscribe of this.unsubscribes) unsubscribe();
    this.switches?.stop();
    this.placed.stop();
    this.scheduler.stop();
    this.markReady();
    for (const check of this.checks.values()) check.inFlight?.abort(new RunCancelled('the agent stops'));
    const closing = [...this.checks.values()].map((check) => check.runner.close?.().catch(() => undefined));
    // Results gathered for a group write go now, not when their group would have.
    const flushing = this.options.history.flush().catch(() => undefined);
    await this.within(STOP_WAIT_MS, Promise.all([...closing, flushing, ...this.writes]));
  }

  state(): SubsystemState {
    if (!this.running) return { status: 'initializing', message: 'waiting for the first collection' };
    if (this.lastHistoryError)
      return { status: 'degraded', message: `history not written: ${this.lastHistoryError}` };
    return { status: 'ok' };
  }

  exposition(): MetricFamily[] {
    return [
      {
        name: 'opsbro_checks',
        help: "this node's checks by state (ok, warning, critical, unknown, pending)",
        type: 'gauge',
        labelNames: ['state'],
        samples: () => {
          const counts: Record<string, number> = { ok: 0, warning: 0, critical: 0, unknown: 0, pending: 0 };
          for (const status of this.statuses()) counts[status.state] = (counts[status.state] ?? 0) + 1;
          return Object.entries(counts).map(([state, value]) => ({ labels: { state }, value }));
        },
      },
    ];
  }

  routes(): Route[] {
    return [...checkRoutes(this), ...targetRoutes(this), ...platusRoutes(this), ...megaphoneRoutes(this)];
  }

  /** A reloaded configuration: checks rebuilt; a check of the same name keeps its state. */
  reload(config: LoadedConfig): void {
    this.config = { definitions: config.definitions, packs: config.packs };
    this.rebuild();
  }

  /** The checks rebuilt from the configuration and the registrations now; the same name keeps its state. */
  private rebuild(): void {
    const previous = this.checks;
    const reconfigured: LiveCheck[] = [];
    const next = this.build(
      this.withRegistered(this.config.definitions),
      this.config.packs,
      new Map(),
      previous,
      reconfigured,
    );
    const removed = [...previous.keys()].filter((name) => !next.has(name));
    this.checks = next;
    // Out of the scheduler and the table first (updateActive), then their runners closed.
    this.updateActive();
    for (const name of removed) {
      const gone = previous.get(name)!;
      // Not in `next`, so updateActive() could not stop its run under way (a plugin would go on
      // to its timeout, holding a slot): stopped here.
      this.cancel(gone, 'the check was removed');
      void gone.runner.close?.().catch(() => undefined);
    }
    if (removed.length) void this.track(this.options.history.forget(removed), 'forget');
    // New timing: scheduled again under the new settings.
    for (const check of reconfigured)
      if (this.running && this.active.has(check.name)) {
        this.scheduler.remove(check.name);
        this.schedule(check);
      }
  }

  // ---- what the routes read -----------------------------------------------------------------

  /** This node's checks, by name. */
  statuses(): CheckStatus[] {
    const tables = this.placedChecks().length ? this.tables() : [];
    return [...this.active]
      .sort()
      .map((name) => this.checks.get(name)!)
      .map((check) => {
        const status = check.status(this.scheduler.nextRunAt(check.name));
        const placed = placedCheck(check);
        return placed ? { ...status, placement: this.placed.view(placed, tables) } : status;
      });
  }

  /** Every placed check this node holds (running here or not): its runners and combined state. */
  placements(): CheckPlacement[] {
    const tables = this.tables();
    return this.placedChecks()
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((check) => this.placed.view(check, tables));
  }

  localTable(): NodeCheckTable {
    return this.table.snapshot();
  }

  monitoringState(): NodeMonitoringState {
    return { ...this.table.snapshot(), statuses: this.statuses() };
  }

  /** Every node's table: gossip's when wired, else this node's alone. */
  tables(): NodeCheckTable[] {
    return this.options.clusterTables?.() ?? [this.table.snapshot()];
  }

  /** Worst-of, megaphone style; a placed check counts with its combined state, not this node's run. */
  status(): StatusAnswer {
    const statuses = this.statuses().map((status) =>
      status.placement ? combinedStatus(status, status.placement) : status,
    );
    return worstOf(statuses, this.override, new Date(this.time.now()));
  }

  /** The active check's status, recent results and changes; undefined when it is not one of this node's. */
  async detail(name: string): Promise<CheckDetail | undefined> {
    const check = this.activeCheck(name);
    if (!check) return undefined;
    const [results, changes] = await Promise.all([
      this.options.history.recentResults(name, DETAIL_RESULTS),
      this.options.history.changes(name, DETAIL_CHANGES),
    ]);
    return { status: check.status(this.scheduler.nextRunAt(name)), results, changes };
  }

  /**
   * Runs the check now (queued first in line, never beside a run of its own) and says what it
   * found; undefined when it is not one of this node's checks. Throws when the run was abandoned.
   */
  async runNow(name: string): Promise<CheckRunAnswer | undefined> {
    if (!this.activeCheck(name)) return undefined;
    const asked = this.time.now();
    // Before the collectors' first pass the scheduler holds no check yet.
    await this.ready;
    const check = this.activeCheck(name);
    if (!check) return undefined;
    check.verboseNext = true;
    await this.scheduler.runNow(name);
    const record = check.lastRecord;
    if (!record || Date.parse(record.at) < asked)
      throw new Error(`the run of ${name} was abandoned: the check was reloaded or left this node meanwhile`);
    return { name, ...record };
  }

  /** How the scheduler keeps up: runs under way and waiting, and how late runs start. */
  schedulerStats(): CheckSchedulerAnswer {
    const stats = this.scheduler.stats();
    return {
      checks: this.active.size,
      max_concurrent: this.maxConcurrent,
      running: stats.running,
      queued: stats.queued,
      started: stats.started,
      skipped: stats.skipped,
      lag_p50_ms: stats.lagP50Ms,
      lag_p99_ms: stats.lagP99Ms,
    };
  }

  /** The names of this node's checks (for 404 messages and completion). */
  names(): string[] {
    return [...this.active].sort();
  }

  /** Forces the node's status to CRITICAL until cleared; kept in the data dir, spread in the table. */
  setOverride(reason: string): StatusOverride {
    const override: StatusOverride = {
      state: 'critical',
      reason,
      since: new Date(this.time.now()).toISOString(),
    };
    this.overrides.save(override);
    this.override = override;
    this.table.apply({ override });
    this.options.logger.warn('status overridden to CRITICAL', { reason });
    return override;
  }

  /** Clears the override; false when there was none. */
  clearOverride(): boolean {
    const had = this.override !== undefined;
    this.overrides.clear();
    this.override = undefined;
    this.table.apply({ override: null });
    if (had) this.options.logger.info('status override cleared');
    return had;
  }

  // ---- targets (skypunch): every check of this node, switched on or off ----------------------

  /** This node's checks, the switched-off ones too, with their counters. */
  targets(): TargetStatus[] {
    return [...this.checks.values()]
      .filter((check) => this.placedHere(check))
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((check) => this.targetStatus(check));
  }

  /** One of targets(), without building the others' statuses; undefined when it is not one. */
  target(name: string): TargetStatus | undefined {
    const check = this.checks.get(name);
    return check && this.placedHere(check) ? this.targetStatus(check) : undefined;
  }

  private targetStatus(check: LiveCheck): TargetStatus {
    const enabled = this.active.has(check.name);
    return { ...check.status(enabled ? this.scheduler.nextRunAt(check.name) : undefined), enabled };
  }

  /** Switches a check on or off on every node; false when this node has no such check. */
  async setEnabled(name: string, enabled: boolean): Promise<boolean> {
    const check = this.checks.get(name);
    if (!check || !this.placedHere(check)) return false;
    if (!this.switches) throw new Error('switching checks needs the KV store (kv.enabled)');
    await this.switches.set(name, enabled);
    this.options.logger.info(`check ${enabled ? 'enabled' : 'disabled'} cluster-wide`, { check: name });
    return true;
  }

  // ---- runtime registrations (megaphone's /checks: megaphone-routes.ts, registry-store.ts) ----
  // A registration is a json_status check definition named by its id, merged with the
  // configuration's at every build: scheduled, kept in history and spread like any check, and kept
  // in the data dir so that a restart or a reload keeps it. A configured check's name is refused.

  /** The registrations, by id. */
  registered(): MegaphoneRegistration[] {
    return [...this.registrations.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  registration(id: string): MegaphoneRegistration | undefined {
    return this.registrations.get(id);
  }

  /** Where the configured check named so is defined (`file:line`); undefined when there is none. */
  configuredSource(name: string): string | undefined {
    const definition = this.config.definitions.find((each) => each.kind === 'check' && each.name === name);
    return definition && `${definition.source.file}:${definition.source.line ?? 1}`;
  }

  /** The status of a registered check as it runs; undefined when it does not (shadowed, refused). */
  registeredStatus(id: string): CheckStatus | undefined {
    if (!this.registrations.has(id) || this.shadowed.has(id)) return undefined;
    const check = this.checks.get(id);
    return check?.status(this.active.has(id) ? this.scheduler.nextRunAt(id) : undefined);
  }

  /** The override in effect (megaphone's `--global`). */
  currentOverride(): StatusOverride | undefined {
    return this.override;
  }

  /**
   * Registers a check, or replaces the registration of that id (its state kept, as a reload
   * keeps it). Kept in the data dir before it applies. Throws RegistrationRefused for a configured
   * check's name, beyond MAX_REGISTRATIONS, or when json_status refuses it; another error when
   * the file cannot be written (nothing changed then).
   */
  register(registration: MegaphoneRegistration): { created: boolean } {
    const { id } = registration;
    const source = this.configuredSource(id);
    if (source)
      throw new RegistrationRefused(
        'clash',
        `${id} is a configured check (${source}): a registration may not replace it; choose another id`,
      );
    const created = !this.registrations.has(id);
    if (created && this.registrations.size >= MAX_REGISTRATIONS)
      throw new RegistrationRefused(
        'full',
        `${MAX_REGISTRATIONS} checks are registered already, the most kept: delete one first (DELETE /checks/ID)`,
      );
    const problem = this.registrationProblem(registration);
    if (problem) throw new RegistrationRefused('invalid', `check ${id}: ${problem}`);
    if (this.stopped) throw new Error('the agent is stopping');
    const next = new Map(this.registrations).set(id, registration);
    this.registry?.save([...next.values()]);
    this.registrations = next;
    if (this.built) this.rebuild();
    this.options.logger.info(created ? 'check registered' : 'check registration replaced', {
      check: id,
      url: typeof registration.url === 'string' ? registration.url : registration.url.addr,
    });
    return { created };
  }

  /** Removes a registration and its check; false when none has that id. */
  unregister(id: string): boolean {
    if (!this.registrations.has(id)) return false;
    if (this.stopped) throw new Error('the agent is stopping');
    const next = new Map(this.registrations);
    next.delete(id);
    this.registry?.save([...next.values()]);
    this.registrations = next;
    this.shadowed.delete(id);
    if (this.built) this.rebuild();
    this.options.logger.info('check registration deleted', { check: id });
    return true;
  }

  /** The configuration's definitions followed by the registrations' (a configured name wins). */
  private withRegistered(definitions: readonly Definition[]): Definition[] {
    if (!this.registrations.size) return [...definitions];
    const configured = new Set(definitions.filter((each) => each.kind === 'check').map((each) => each.name));
    const registered: Definition[] = [];
    for (const registration of this.registrations.values()) {
      const { id } = registration;
      if (configured.has(id)) {
        if (!this.shadowed.has(id))
          this.options.logger.warn(
            'a configured check took the name of a registered check: the configured one runs',
            {
              check: id,
              source: this.configuredSource(id),
            },
          );
        this.shadowed.add(id);
        continue;
      }
      this.shadowed.delete(id);
      try {
        registered.push(definitionOf(registration, this.registryPath()));
      } catch (error) {
        this.options.logger.error('registered check refused, skipped', {
          check: id,
          error: messageOf(error),
        });
      }
    }
    return [...definitions, ...registered];
  }

  /** What json_status says of the check a registration becomes, as rules.ts checks a configured one. */
  private registrationProblem(registration: MegaphoneRegistration): string | undefined {
    const type = this.options.types.get('json_status');
    if (!type) return 'the json_status check type is not in this build';
    try {
      const definition = definitionOf(registration, this.registryPath());
      const check = schemaCheck(type.schema);
      if (!check(definition.body)) return check.problem();
      const runner = type.create(
        { name: definition.name, body: definition.body, packParameters: {} },
        this.options.dependencies,
      );
      void runner.close?.().catch(() => undefined);
    } catch (error) {
      return messageOf(error);
    }
    return undefined;
  }

  private registryPath(): string {
    return this.options.registryFile ?? 'POST /checks';
  }

  // ---- building and activating checks ------------------------------------------------------

  /**
   * A LiveCheck per enabled check definition. A check of `previous` with the same name keeps its
   * state machine (and, when nothing it was made from changed, its runner); `kept` restores a
   * check from the status history kept before a restart.
   */
  private build(
    definitions: readonly Definition[],
    packs: readonly PackInfo[],
    kept: ReadonlyMap<string, CheckStatus>,
    previous: ReadonlyMap<string, LiveCheck> = new Map(),
    reconfigured: LiveCheck[] = [],
  ): Map<string, LiveCheck> {
    const checks = new Map<string, LiveCheck>();
    for (const definition of definitions) {
      if (definition.kind !== 'check') continue;
      const settings = this.settingsOf(definition, packs);
      if (!settings) continue;
      const existing = previous.get(settings.name);
      if (existing && existing.settings.signature === settings.signature) {
        existing.settings = settings;
        checks.set(settings.name, existing);
        continue;
      }
      const runner = this.createRunner(settings, definition, packs);
      if (!runner) continue;
      if (existing) {
        this.cancel(existing, 'the check was reloaded');
        void existing.runner.close?.().catch(() => undefined);
        existing.reconfigure(settings, runner);
        reconfigured.push(existing);
        checks.set(settings.name, existing);
        continue;
      }
      checks.set(settings.name, new LiveCheck(settings, runner, kept.get(settings.name)));
    }
    return checks;
  }

  private settingsOf(definition: Definition, packs: readonly PackInfo[]): LiveCheckSettings | undefined {
    let body;
    try {
      body = definitionBody(definition, CheckDefinitionSchema);
    } catch (error) {
      // The loader validated it: only a definition built in code gets here. As collectors do.
      this.options.logger.error('check definition refused, skipped', {
        check: definition.name,
        error: messageOf(error),
      });
      return undefined;
    }
    if (!body.enabled) return undefined;
    const choice = checkTypeOf(body, this.options.types);
    if ('problem' in choice) {
      this.options.logger.error('check definition refused, skipped', {
        check: definition.name,
        error: choice.problem,
      });
      return undefined;
    }
    const parameters = packs.find((pack) => pack.name === definition.pack)?.parameters ?? {};
    return {
      name: definition.name,
      type: choice.type,
      timing: checkTiming(body),
      maxAttempts: body.max_attempts,
      ifGroup: body.if_group,
      ...(body.run_on
        ? {
            runOn: {
              group: body.run_on.group,
              replicas: body.run_on.replicas,
              quorum: body.run_on.quorum ?? defaultQuorum(body.run_on.replicas),
            },
          }
        : {}),
      handlers: body.handlers,
      displayName: body.display_name,
      notes: body.notes,
      source: `${definition.source.file}:${definition.source.line ?? 1}`,
      pack: definition.pack,
      signature: JSON.stringify([choice.type.type, body, parameters]),
    };
  }

  private createRunner(settings: LiveCheckSettings, definition: Definition, packs: readonly PackInfo[]) {
    const packParameters = packs.find((pack) => pack.name === definition.pack)?.parameters ?? {};
    try {
      // vault_<key>: values read from Vault at each run (vault/secrets.ts); else the type's own.
      return withVaultSecrets(
        settings.type,
        { name: settings.name, body: definition.body, packParameters },
        this.options.dependencies,
      );
    } catch (error) {
      // rules.ts made the same create() at load: only a definition built in code gets here.
      this.options.logger.error('check refused by its type, skipped', {
        check: settings.name,
        error: messageOf(error),
      });
      return undefined;
    }
  }

  /**
   * The checks of this node: every built check whose if_group holds. Those that join are put in the
   * table and scheduled; those that leave (group lost, removed by a reload) are taken out of both,
   * a run under way abandoned. One table change for all of them.
   */
  private updateActive(): void {
    if (this.stopped) return;
    const removed: string[] = [];
    for (const name of [...this.active]) {
      const check = this.checks.get(name);
      if (check && this.eligible(check)) continue;
      this.active.delete(name);
      this.scheduler.remove(name);
      if (check) this.cancel(check, 'the check no longer runs on this node');
      removed.push(name);
    }
    const added: LiveCheck[] = [];
    for (const check of this.checks.values()) {
      if (this.active.has(check.name) || !this.eligible(check)) continue;
      this.active.add(check.name);
      added.push(check);
      if (this.running) this.schedule(check);
    }
    if (added.length || removed.length)
      this.table.apply({ put: added.map((check) => check.brief()), remove: removed });
  }

  private eligible(check: LiveCheck): boolean {
    return this.placedHere(check) && !this.switches?.isDisabled(check.name);
  }

  /** Whether the check belongs on this node (its if_group, its placement), switched on or off. */
  private placedHere(check: LiveCheck): boolean {
    if (check.settings.ifGroup && !this.groups.has(check.settings.ifGroup)) return false;
    const placed = placedCheck(check);
    return !placed || this.placed.runsHere(placed);
  }

  private placedChecks(): PlacedCheck[] {
    return [...this.checks.values()].flatMap((check) => placedCheck(check) ?? []);
  }

  private schedule(check: LiveCheck): void {
    this.scheduler.add({
      name: check.name,
      intervalMs: check.settings.timing.intervalMs,
      nextDelayMs: () => check.nextDelayMs(),
      run: () => this.runAndRecord(check),
    });
  }

  private cancel(check: LiveCheck, why: string): void {
    check.inFlight?.abort(new RunCancelled(why));
  }

  private activeCheck(name: string): LiveCheck | undefined {
    return this.active.has(name) ? this.checks.get(name) : undefined;
  }

  // ---- one run -----------------------------------------------------------------------------

  /** One run, recorded. Never rejects: the scheduler's run() contract. */
  private async runAndRecord(check: LiveCheck): Promise<void> {
    const startedAt = this.time.now();
    const startedMono = this.time.monotonicNow();
    let outcome: { result: CheckResult; timedOut: boolean };
    try {
      outcome = await this.execute(check);
    } catch (error) {
      if (error instanceof RunCancelled) return;
      // execute() turns every failure into a result: this is a bug, shown as the check's output.
      outcome = {
        result: { state: 'unknown', output: `internal error: ${messageOf(error)}`, perfdata: [] },
        timedOut: false,
      };
    }
    if (this.stopped || this.checks.get(check.name) !== check || !this.active.has(check.name)) return;
    // A run that timed out took its timeout, whatever its runner needed to wind down after it.
    const durationMs = outcome.timedOut
      ? check.settings.timing.timeoutMs
      : this.time.monotonicNow() - startedMono;
    try {
      await this.record(check, capOutput(outcome.result), startedAt, durationMs);
    } catch (error) {
      this.options.logger.error('a check result could not be recorded', { check: check.name, error });
    }
  }

  /** The runner's result within the timeout; UNKNOWN with the reason for a throw or a timeout. */
  private async execute(check: LiveCheck): Promise<{ result: CheckResult; timedOut: boolean }> {
    const { timeoutMs } = check.settings.timing;
    const controller = new AbortController();
    check.inFlight = controller;
    const timer = this.time.timers.setTimeout(
      () => controller.abort(new RunTimedOut(`timed out after ${formatSeconds(timeoutMs)}`)),
      timeoutMs,
      true,
    );
    const aborted = new Promise<never>((_resolve, reject) =>
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), {
        once: true,
      }),
    );
    const verbose = check.verboseNext;
    check.verboseNext = false;
    // A runner that throws at once is a failed run like one that rejects.
    const running = new Promise<CheckResult>((resolve) =>
      resolve(
        check.runner.run({
          signal: controller.signal,
          timeoutMs,
          node: this.node(),
          ...(verbose ? { verbose } : {}),
        }),
      ),
    );
    try {
      return { result: await Promise.race([running, aborted]), timedOut: false };
    } catch (error) {
      if (error instanceof RunCancelled) throw error;
      if (!(error instanceof RunTimedOut))
        return { result: { state: 'unknown', output: messageOf(error), perfdata: [] }, timedOut: false };
      // Told by its signal, the runner winds down (a plugin's process group is killed): the check's
      // slot is held until it has, within a bound, so its next run never meets this one's processes.
      // One that ignores the signal (an evaluation cannot be interrupted) is not waited for longer.
      await this.within(SETTLE_AFTER_TIMEOUT_MS, running);
      return { result: { state: 'unknown', output: error.message, perfdata: [] }, timedOut: true };
    } finally {
      this.time.timers.clearTimeout(timer);
      if (check.inFlight === controller) check.inFlight = undefined;
    }
  }

  private node(): CheckNode {
    const { node } = this.options;
    return { name: node.name, hostname: node.hostname, address: node.address() };
  }

  private async record(check: LiveCheck, result: CheckResult, at: number, durationMs: number): Promise<void> {
    const roundedMs = Math.round(durationMs * 1000) / 1000;
    const { transition, hardFrom } = check.record({ result, at, durationMs: roundedMs });
    const record: CheckResultRecord = {
      at: new Date(at).toISOString(),
      state: result.state,
      state_type: transition.stateType,
      attempt: transition.attempt,
      output: result.output,
      ...(result.longOutput ? { long_output: result.longOutput } : {}),
      perfdata: result.perfdata,
      duration_ms: roundedMs,
    };
    check.lastRecord = record;
    // The status is built when the history writes it (with a change, else at most once per
    // checks.history_status_s), not for every run.
    const resultWritten = this.track(
      this.options.history.addResult(
        check.name,
        record,
        () => check.status(this.scheduler.nextRunAt(check.name)),
        { statusNow: transition.changed },
      ),
      'result',
    );
    if (transition.changed) {
      // Durable before it is announced: a crash right after a change still finds it in history.
      // A result without a change is not waited for: the history writes results in groups.
      await Promise.all([
        resultWritten,
        this.track(
          this.options.history.addChange({
            check: check.name,
            at: record.at,
            from: transition.from,
            to: transition.to,
            state_type: transition.stateType,
            attempt: transition.attempt,
            output: result.output,
          }),
          'change',
        ),
      ]);
    }
    // Gone meanwhile (a reload, a group lost): its table entry is gone too.
    if (this.stopped || !this.active.has(check.name)) return;
    this.announce(check, transition, hardFrom, result, at);
    this.publishPerfdata(check.name, result, at);
  }

  private announce(
    check: LiveCheck,
    transition: Transition,
    hardFrom: CheckState | 'pending',
    result: CheckResult,
    at: number,
  ): void {
    // Every run refreshes the brief's output; only a change of state or state type is announced.
    this.table.apply({ put: [check.brief()] });
    if (transition.flapping)
      this.options.logger.warn(
        `check ${transition.flapping === 'started' ? 'started' : 'stopped'} flapping`,
        {
          check: check.name,
          percent_state_change: check.machine.snapshot().percent_state_change,
        },
      );
    // A placed check's own run is one voice of its quorum: its combined state is what is announced.
    if (!transition.hardChange || check.settings.runOn) return;
    this.options.logger.info('check state change', {
      check: check.name,
      from: hardFrom,
      to: transition.to,
      output: result.output,
    });
    this.emitHardChange(
      check,
      {
        from: hardFrom,
        to: transition.to,
        attempt: transition.attempt,
        output: result.output,
        ...(result.longOutput ? { long_output: result.longOutput } : {}),
      },
      at,
    );
  }

  /** `check-state-change` for handlers and the websocket: this node's, with the check's names. */
  private emitHardChange(
    check: LiveCheck,
    change: Pick<CheckStateChangeEvent, 'from' | 'to' | 'attempt' | 'output' | 'long_output'>,
    at: number,
  ): void {
    const { node } = this.options;
    this.options.events.emit('check-state-change', {
      node: node.name,
      node_id: node.id,
      check: check.name,
      ...(check.settings.displayName ? { display_name: check.settings.displayName } : {}),
      ...change,
      at: new Date(at).toISOString(),
      handlers: [...check.settings.handlers],
    });
  }

  /** Perfdata as metrics `<check>.<label>`, for the metrics subsystem. */
  private publishPerfdata(name: string, result: CheckResult, at: number): void {
    if (!result.perfdata.length || !this.options.events.hasListeners('metrics')) return;
    const metrics = result.perfdata
      .filter((datum) => Number.isFinite(datum.value))
      .map((datum): [string, number] => [`${name}.${datum.label}`, datum.value]);
    if (metrics.length)
      this.options.events.emit('metrics', { source: `check:${name}`, timestamp: at, metrics });
  }

  /** A history write, awaited by stop() (bounded); a failure is logged (rate-limited), never thrown. */
  private track(write: Promise<unknown>, what: string): Promise<void> {
    const tracked = write.then(
      () => {
        this.lastHistoryError = undefined;
      },
      (error: unknown) => {
        this.lastHistoryError = messageOf(error);
        this.historyErrors.warn(what, `check history: a ${what} could not be written`, {
          error: messageOf(error),
        });
      },
    );
    this.writes.add(tracked);
    void tracked.finally(() => this.writes.delete(tracked));
    return tracked;
  }

  private within(ms: number, work: Promise<unknown>): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = this.time.timers.setTimeout(resolve, ms, true);
      void work.finally(() => {
        this.time.timers.clearTimeout(timer);
        resolve();
      });
    });
  }
}

/** A placed check's status as /status counts it: its combined state, not this node's own run. */
function combinedStatus(status: CheckStatus, placement: CheckPlacement): CheckStatus {
  return {
    ...status,
    state: placement.state,
    state_type: placement.state_type,
    // A combined problem not yet hard counts as OK, as a soft one does (the runners still retry).
    last_hard_state:
      placement.state_type === 'hard' && placement.state !== 'pending' ? placement.state : 'ok',
    output: placement.output,
  };
}

/** The check as placement reads it, when it has `run_on`. */
const placedCheck = (check: LiveCheck): PlacedCheck | undefined =>
  check.settings.runOn && { name: check.name, runOn: check.settings.runOn };
