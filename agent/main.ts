// The agent: loads configuration, takes the data dir, wires the subsystems, and runs them until
// asked to stop. This is the only file that knows every subsystem; nothing imports it statically
// (the CLI loads it on demand for `opsbro agent start`).
import { hostname, networkInterfaces } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import {
  agentRoutes,
  type AgentControl,
  type AgentInfo,
  type AgentStatus,
  type ReloadOutcome,
} from './agent-routes.js';
import { constants as osConstants } from 'node:os';
import { HttpApi, isLoopback } from './api/index.js';
import {
  type AgentSettings,
  ConfigErrors,
  defaultDataDir,
  type LoadedConfig,
  loadConfig,
  packageVersion,
  RESTART_ONLY_SETTINGS,
} from './config/index.js';
import {
  COLLECTOR_TYPES,
  CollectorsSubsystem,
  collectorDefinitionSchema,
  hostPaths,
} from './collectors/index.js';
import { launchDaemon, isDaemonChild, reportToLauncher, StderrFileCap, stderrFileOf } from './daemon.js';
import { DetectorDefinitionSchema, DetectorsSubsystem, detectorRuleErrors } from './detectors/index.js';
import { Evaluator, type EvaluatorProviders, type ProtectedPath } from './evaluator/index.js';
import { evaluatorRoutes } from './evaluator-routes.js';
import { packRoutes } from './pack-routes.js';
import { type DataDir, LOCAL_TOKEN_FILE, openDataDir } from './datadir/index.js';
import { EventBus } from './events/index.js';
import { GossipSubsystem } from './gossip/subsystem.js';
import { KeyringStore } from './gossip/keyring-store.js';
import { createClusterRpc } from './rpc/index.js';
import { Logger, RateLimitedLog, RotatingFile } from './log/index.js';
import type { Subsystem, SubsystemState } from './subsystem.js';
import { messageOf } from './errors.js';

/** SIGTERM/SIGINT to exit: everything must be stopped within this budget. */
export const STOP_BUDGET_MS = 5_000;

export interface StartOptions {
  configDir: string;
  dataDir?: string;
  daemon?: boolean;
  /** Detect a cluster on the LAN at boot and join it (when no seeds are configured). */
  autoDetect?: boolean;
  /** Shows that something is being waited for (the CLI passes its spinner). */
  showWaiting?: (text: string) => { stop(): void };
}

/** Definition kinds handled by the subsystems of this build, with their schemas. */
const DEFINITION_SCHEMAS = {
  detector: DetectorDefinitionSchema,
  collector: collectorDefinitionSchema([...COLLECTOR_TYPES.keys()]),
};

/**
 * The whole configuration, with every expression compiled: a rule that cannot parse is a config
 * error at its line, before anything starts (or instead of a reload).
 */
function loadAgentConfig(configDir: string): LoadedConfig {
  const config = loadConfig({ configDir, definitionSchemas: DEFINITION_SCHEMAS });
  const compiler = new Evaluator(NO_PROVIDERS);
  const errors = detectorRuleErrors(config.definitions, (expression) => compiler.compile(expression));
  if (errors.length) throw new ConfigErrors(errors, config.warnings);
  return config;
}

/** Compiling needs no data (and reads no file: nothing to protect). */
const NO_PROVIDERS: EvaluatorProviders = {
  collectorData: () => undefined,
  groups: () => [],
  staticGroups: () => [],
  countNodes: () => 0,
  paths: { root: '/', protectedPaths: [] },
  envAllowList: () => [],
};

/**
 * What expressions may never read: the data dir (keyring, local token, node id, libp2p key,
 * stores), the config dir (agent.yml and conf.d hold encryption_key and auth tokens), the key file
 * wherever it is, and every file the loader read settings from, wherever it really is: agent.yml
 * or a conf.d file is often a symlink that config management points at /srv/... or /var/lib/...,
 * and conf.d itself may be a linked directory (both are recognised by the identity of what their
 * names lead to at each check). Pack files hold definitions, not settings, and stay readable.
 * main gives the evaluator a function over the current config, so a reload applies.
 */
export function evaluatorProtectedPaths(config: LoadedConfig, dataDirPath: string): ProtectedPath[] {
  const confD = join(config.configDir, 'conf.d');
  const paths: ProtectedPath[] = [
    { path: dataDirPath, what: "the agent's data dir" },
    { path: config.configDir, what: "the agent's config dir" },
    { path: confD, what: "the agent's conf.d dir" },
  ];
  for (const file of config.files) {
    const isSettingsFile = file === join(config.configDir, 'agent.yml') || dirname(file) === confD;
    if (isSettingsFile) paths.push({ path: file, what: `a config file the agent read (${file})` });
  }
  const keyFile = config.settings.encryption_key_file;
  if (keyFile) {
    paths.push({
      path: resolve(config.configDir, keyFile),
      what: 'the cluster key file (encryption_key_file)',
    });
  }
  return paths;
}

class Agent implements AgentControl {
  private readonly events: EventBus;
  private readonly subsystems: Subsystem[] = [];
  private readonly startedAt = new Date();
  private readonly api: HttpApi;
  private readonly gossip: GossipSubsystem;
  private readonly collectors: CollectorsSubsystem;
  private readonly detectors: DetectorsSubsystem;
  private readonly evaluator: Evaluator;
  private status: AgentStatus = 'initializing';
  private stopping?: Promise<void>;
  private starting?: Promise<void>;

  constructor(
    private config: LoadedConfig,
    private readonly dataDir: DataDir,
    private readonly logger: Logger,
    options: { autoDetect?: boolean } = {},
  ) {
    // A subscriber's bug is logged with its stack (a bug, not bad input) and never reaches the publisher.
    // A subscriber that fails on every event must not flood the log: once a minute per event.
    const subscriberErrors = new RateLimitedLog((message, fields) => logger.error(message, fields));
    this.events = new EventBus({
      onSubscriberError: (error, event) =>
        subscriberErrors.warn(event, 'an event subscriber failed (the other subscribers ran)', {
          event,
          error,
          ...(error instanceof Error && error.stack ? { stack: error.stack } : {}),
        }),
    });
    const { api } = config.settings;
    this.api = new HttpApi({
      bind: api.bind,
      port: api.port,
      socketPath: api.socket ? dataDir.apiSocket : undefined,
      maxBodyBytes: api.max_body_bytes,
      tokens: config.settings.auth.tokens,
      localToken: dataDir.localToken,
      dataDir: dataDir.path,
      logger: logger.child({ subsystem: 'api' }),
    });
    const { settings } = config;
    this.gossip = new GossipSubsystem({
      settings,
      nodeId: dataDir.nodeId,
      nodeName: settings.node_name || hostname(),
      version: packageVersion(),
      keyringStore: new KeyringStore(dataDir.path),
      createRpc: (clusterKey, host) =>
        createClusterRpc({
          host,
          port: settings.rpc.port,
          dataDir: dataDir.path,
          clusterKey,
          handshakeTimeoutMs: settings.rpc.handshake_timeout_ms,
          maxPendingPerAddress: settings.rpc.max_pending_per_address,
        }),
      events: this.events,
      logger: logger.child({ subsystem: 'gossip' }),
      autoDetect: options.autoDetect,
    });
    this.collectors = new CollectorsSubsystem({
      settings,
      definitions: config.definitions,
      packs: config.packs,
      types: COLLECTOR_TYPES,
      events: this.events,
      logger: logger.child({ subsystem: 'collectors' }),
    });
    const { regexp } = settings.evaluator;
    this.evaluator = new Evaluator(
      {
        collectorData: (name) => this.collectors.data(name),
        groups: () => this.detectors.nodeGroups(),
        staticGroups: () => this.detectors.staticNodeGroups(),
        countNodes: (group, state) =>
          this.gossip.members().filter((member) => member.state === state && member.groups.includes(group))
            .length,
        paths: {
          root: hostPaths(settings).root,
          // Read at each check from the running config: a reload's new conf.d files are protected.
          protectedPaths: () => evaluatorProtectedPaths(this.config, dataDir.path),
        },
        // Read at each call: env_allow applies on reload.
        envAllowList: () => this.settings.evaluator.env_allow,
      },
      {
        regexp: {
          workers: regexp.workers,
          queueJobs: regexp.queue_jobs,
          queueBytes: Math.round(regexp.queue_mb * 1024 * 1024),
          timeoutMs: regexp.timeout_ms,
          idleMs: regexp.idle_s * 1000,
        },
      },
    );
    this.detectors = new DetectorsSubsystem({
      settings,
      definitions: config.definitions,
      packs: config.packs,
      evaluator: this.evaluator,
      events: this.events,
      logger: logger.child({ subsystem: 'detectors' }),
      collectorsReady: () => this.collectors.ready(),
    });
    // Start order; stop runs in reverse (gossip leaves the cluster before the API closes).
    this.subsystems.push(this.api, this.gossip, this.collectors, this.detectors);
    this.api.addRoutes(agentRoutes(this));
    this.api.addRoutes(
      evaluatorRoutes(this.evaluator, {
        maxEvaluationsPerCaller: () => this.settings.evaluator.max_evaluations_per_caller,
      }),
    );
    this.api.addRoutes(packRoutes(() => this.config));
    for (const subsystem of this.subsystems) if (subsystem.routes) this.api.addRoutes(subsystem.routes());
  }

  get settings(): AgentSettings {
    return this.config.settings;
  }

  /** Starts every subsystem in order; a stop requested meanwhile waits for this to settle. */
  start(): Promise<void> {
    this.starting = this.startAll();
    return this.starting;
  }

  private async startAll(): Promise<void> {
    const started: Subsystem[] = [];
    try {
      for (const subsystem of this.subsystems) {
        // A stop signal during start: stop() takes care of everything, start no more.
        if (this.stopping) return;
        // Listed before it starts: a subsystem that fails halfway is stopped too.
        started.push(subsystem);
        await subsystem.start();
      }
    } catch (error) {
      // Nothing half-started: undo what did start before reporting the failure.
      for (const subsystem of started.reverse()) await subsystem.stop().catch(() => undefined);
      throw error;
    }
    if (this.stopping) return;
    this.status = 'ok';
    this.logger.info('agent started', {
      name: this.nodeName,
      id: this.dataDir.nodeId,
      version: packageVersion(),
      datacenter: this.settings.datacenter,
      data_dir: this.dataDir.path,
      config_dir: this.config.configDir,
      pid: process.pid,
    });
  }

  /** Stops every subsystem in reverse order within STOP_BUDGET_MS. Idempotent. */
  stop(reason: string): Promise<void> {
    this.stopping ??= this.stopAll(reason);
    return this.stopping;
  }

  requestStop(reason: string): void {
    void this.stop(reason).then(() => process.exit(0));
  }

  private async stopAll(reason: string): Promise<void> {
    this.status = 'stopping';
    this.logger.info('agent stopping', { reason });
    this.events.emit('agent-stopping', { reason });
    const deadline = Date.now() + STOP_BUDGET_MS - 500;
    // Let a subsystem that is starting finish, so it is not started after being stopped.
    await Promise.race([
      this.starting?.catch(() => undefined),
      sleep(Math.max(0, deadline - Date.now()) / 2),
    ]);
    for (const subsystem of [...this.subsystems].reverse()) {
      const remainingMs = Math.max(0, deadline - Date.now());
      const timedOut = await Promise.race([
        subsystem.stop().then(
          () => false,
          (error: unknown) => {
            this.logger.error('subsystem failed to stop cleanly', { subsystem: subsystem.name, error });
            return false;
          },
        ),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(true), remainingMs).unref()),
      ]);
      if (timedOut)
        this.logger.warn('subsystem did not stop in time, abandoned', { subsystem: subsystem.name });
    }
    // Detectors and the API are stopped: no evaluation needs the regexp workers any more.
    await Promise.race([this.evaluator.close().catch(() => undefined), sleep(500)]);
    this.dataDir.lock.release();
    this.logger.info('agent stopped', { uptime_seconds: this.uptimeSeconds() });
  }

  /** Re-reads the configuration. A bad one is refused (logged, thrown) and the running one kept. */
  reload(): ReloadOutcome {
    let next: LoadedConfig;
    try {
      next = loadAgentConfig(this.config.configDir);
    } catch (error) {
      const message =
        error instanceof ConfigErrors ? error.errors.map((e) => e.message).join('; ') : String(error);
      this.logger.error('reload refused, the running configuration is kept', { error: message });
      this.events.emit('config-reload-failed', { error: message });
      throw error;
    }
    const restartRequired = changedKeys(this.config.settings, next.settings).filter((key) =>
      RESTART_ONLY_SETTINGS.some((prefix) => key === prefix || key.startsWith(`${prefix}.`)),
    );
    // Restart-only settings keep their running values so info() keeps telling the truth.
    const settings: AgentSettings = {
      ...next.settings,
      ...Object.fromEntries(
        RESTART_ONLY_SETTINGS.filter((key) => !key.includes('.')).map((key) => [
          key,
          this.settings[key as keyof AgentSettings],
        ]),
      ),
      log: { ...this.settings.log, level: next.settings.log.level },
    };
    this.config = { ...next, settings };
    this.logger.setLevel(settings.log.level);
    for (const subsystem of this.subsystems) subsystem.reload?.(settings);
    this.collectors.reloadDefinitions(settings, next.definitions, next.packs);
    // Publishes groups-changed when the static or detected groups change.
    this.detectors.reloadDefinitions(settings, next.definitions, next.packs);
    for (const warning of next.warnings) this.logger.warn(`config: ${warning}`);
    if (restartRequired.length)
      this.logger.warn('changed settings need a restart to apply', { keys: restartRequired.join(',') });
    this.events.emit('config-reloaded', { warnings: next.warnings });
    this.logger.info('configuration reloaded', {
      files: next.files.length,
      definitions: next.definitions.length,
    });
    return { warnings: next.warnings, restart_required: restartRequired };
  }

  info(): AgentInfo {
    const memory = process.memoryUsage();
    const subsystems: Record<string, SubsystemState> = {
      config: this.config.warnings.length
        ? { status: 'ok', message: `${this.config.warnings.length} warning(s)` }
        : { status: 'ok' },
    };
    // Shown once the log output has fallen behind (a stdout pipe nobody reads): lines were lost.
    const droppedLines = this.logger.droppedLines;
    if (droppedLines)
      subsystems.log = {
        status: 'ok',
        message: `${droppedLines} log lines dropped: the output did not keep up`,
      };
    for (const subsystem of this.subsystems) subsystems[subsystem.name] = subsystem.state();
    const tcp = this.api.tcpAddress;
    const cluster = this.gossip.cluster();
    return {
      name: this.nodeName,
      id: this.dataDir.nodeId,
      version: packageVersion(),
      datacenter: this.settings.datacenter,
      groups: this.detectors.nodeGroups(),
      addresses: interfaceAddresses(),
      ports: { api: tcp?.port ?? this.settings.api.port, ...this.gossip.ports() },
      api: {
        tcp: `${tcp?.address ?? this.settings.api.bind}:${tcp?.port ?? this.settings.api.port}`,
        socket: this.settings.api.socket ? this.dataDir.apiSocket : undefined,
        auth: this.settings.auth.tokens.length > 0,
        local_token: join(this.dataDir.path, LOCAL_TOKEN_FILE),
      },
      encryption: this.gossip.encryptionEnabled
        ? { enabled: true }
        : { enabled: false, warning: encryptionWarning(cluster) },
      cluster,
      pid: process.pid,
      node_version: process.version,
      started_at: this.startedAt.toISOString(),
      uptime_seconds: this.uptimeSeconds(),
      memory: { rss_bytes: memory.rss, heap_used_bytes: memory.heapUsed, heap_total_bytes: memory.heapTotal },
      state: this.overallStatus(subsystems),
      subsystems,
      config: {
        dir: this.config.configDir,
        files: this.config.files,
        definitions: this.config.definitions.length,
        warnings: this.config.warnings,
      },
      data_dir: this.dataDir.path,
    };
  }

  private overallStatus(subsystems: Record<string, SubsystemState>): AgentStatus {
    if (this.status !== 'ok') return this.status;
    const states = Object.values(subsystems).map((state) => state.status);
    if (states.includes('initializing')) return 'initializing';
    if (states.some((state) => state === 'error' || state === 'degraded')) return 'degraded';
    return 'ok';
  }

  private get nodeName(): string {
    return this.settings.node_name || hostname();
  }

  private uptimeSeconds(): number {
    return Math.round((Date.now() - this.startedAt.getTime()) / 1000);
  }
}

/**
 * `opsbro agent start`. Resolves only on failure to start (with the exit code); a running agent
 * exits the process itself when stopped.
 */
export async function startAgent(options: StartOptions): Promise<number> {
  const configDir = resolve(options.configDir);
  let config: LoadedConfig;
  try {
    config = loadAgentConfig(configDir);
  } catch (error) {
    if (!(error instanceof ConfigErrors)) throw error;
    return fail([
      ...error.errors.map((e) => `config error: ${e.message}`),
      ...error.warnings.map((warning) => `config warning: ${warning}`),
    ]);
  }
  const { settings } = config;
  const dataDirPath = resolve(options.dataDir ?? (settings.data_dir || defaultDataDir()));

  if (options.daemon) {
    const waiting = options.showWaiting?.('starting the agent in the background');
    const outcome = await launchDaemon({
      args: [
        'agent',
        'start',
        '--config-dir',
        configDir,
        '--data-dir',
        dataDirPath,
        ...(options.autoDetect ? ['--auto-detect'] : []),
      ],
      logFile: resolve(dataDirPath, 'logs', 'opsbro.log'),
      stderrMaxBytes: settings.log.max_size_mb * 1024 * 1024,
    });
    waiting?.stop();
    if (outcome.type === 'failed') return fail([outcome.error]);
    process.stdout.write(
      `agent started in the background (pid ${outcome.pid}); logs: ${resolve(dataDirPath, 'logs', 'opsbro.log')}\n`,
    );
    return 0;
  }

  let dataDir: DataDir;
  try {
    dataDir = await openDataDir(dataDirPath);
  } catch (error) {
    return fail([messageOf(error)]);
  }

  const logFile = isDaemonChild()
    ? new RotatingFile(dataDir.logFile, settings.log.max_size_mb * 1024 * 1024, settings.log.keep_files)
    : undefined;
  // The daemon's stderr file (Node's last words on a crash) stays under the log's size limit too.
  if (logFile)
    new StderrFileCap({
      path: stderrFileOf(dataDir.logFile),
      maxBytes: settings.log.max_size_mb * 1024 * 1024,
    }).start();
  const logger = Logger.create({
    level: settings.log.level,
    format: settings.log.format,
    sink: logFile ? { kind: 'file', file: logFile } : { kind: 'fd', fd: 1 },
  });
  // Lines are queued and written asynchronously: every exit path (process.exit included) writes
  // what is left, so the lines that explain a stop or a crash are not lost.
  process.on('exit', () => logger.flushSync());
  for (const warning of config.warnings) logger.warn(`config: ${warning}`);
  if (dataDir.lock.stalePid)
    logger.warn('the previous agent on this data dir did not stop cleanly', { pid: dataDir.lock.stalePid });

  const agent = new Agent(config, dataDir, logger, { autoDetect: options.autoDetect });
  // Before anything listens: a SIGTERM that arrives mid-start must still stop cleanly.
  installSignalHandlers(agent, logger);
  try {
    await agent.start();
  } catch (error) {
    dataDir.lock.release();
    logger.error('agent failed to start', { error });
    return fail([messageOf(error)]);
  }
  // The launcher returns as soon as it hears: the log file should already say 'agent started'.
  logger.flushSync();
  reportToLauncher({ type: 'ready', pid: process.pid });
  return new Promise<number>(() => undefined);
}

function installSignalHandlers(agent: Agent, logger: Logger): void {
  let signalled = false;
  const onStopSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      logger.warn('second stop signal, exiting now', { signal });
      process.exit(128 + osConstants.signals[signal]);
    }
    signalled = true;
    // A stop that overruns its budget must not leave a zombie agent holding ports.
    setTimeout(() => {
      logger.error('stop took longer than the budget, exiting', { budget_ms: STOP_BUDGET_MS });
      process.exit(1);
    }, STOP_BUDGET_MS).unref();
    void agent.stop(`signal ${signal}`).then(() => process.exit(0));
  };
  process.on('SIGTERM', onStopSignal);
  process.on('SIGINT', onStopSignal);
  process.on('SIGHUP', () => {
    try {
      agent.reload();
    } catch {
      // reload() logged why; the running configuration stays.
    }
  });
  process.on('uncaughtException', (error) => {
    logger.error('uncaught exception, stopping', { error: error.stack ?? error.message });
    // Written now: if the stop hangs and something kills the agent, this line is what explains it.
    logger.flushSync();
    void agent.stop('uncaught exception').finally(() => process.exit(1));
  });
}

function fail(lines: string[]): number {
  const message = lines.join('\n');
  if (isDaemonChild()) reportToLauncher({ type: 'failed', error: message });
  else for (const line of lines) process.stderr.write(`opsbro: ${line}\n`);
  return 1;
}

function encryptionWarning(cluster: AgentInfo['cluster']): string {
  return isLoopback(cluster.bind)
    ? 'no encryption_key: the cluster ports stay on this machine (run `opsbro agent keygen` to cluster across machines)'
    : 'no encryption_key: the cluster is open to anyone who can reach it (run `opsbro agent keygen`)';
}

function interfaceAddresses(): AgentInfo['addresses'] {
  const addresses: AgentInfo['addresses'] = [];
  for (const [name, entries] of Object.entries(networkInterfaces())) {
    for (const entry of entries ?? []) {
      if (!entry.internal) addresses.push({ interface: name, address: entry.address, family: entry.family });
    }
  }
  return addresses;
}

/** Dotted keys whose values differ between two settings objects. */
function changedKeys(before: unknown, after: unknown, prefix = ''): string[] {
  if (isRecord(before) && isRecord(after)) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    return [...keys].flatMap((key) =>
      changedKeys(before[key], after[key], prefix ? `${prefix}.${key}` : key),
    );
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [prefix];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref());
