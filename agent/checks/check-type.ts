// The one interface every check type implements (one file per type, listed in registry.ts): an
// evaluated check, a Nagios plugin, and later the service checks (http, mongodb, celery, ...). The
// checks subsystem schedules a check, bounds its time, turns its results into soft/hard states and
// history; a type only knows how to run its check once and say what it found.
import type { TSchema } from '@sinclair/typebox';
import type { EvaluationScope } from '../evaluator/index.js';
import type { CheckItem, CheckState, PerfDatum } from '../shared/api-types.js';
import type { PluginSpawner } from './nagios/plugin-process.js';
import type { VaultClient } from './vault/client.js';

export type { CheckItem, CheckState, PerfDatum };

/** What one run of a check found. */
export interface CheckResult {
  state: CheckState;
  /** The first line (plugin guidelines), shown in lists; capped by the subsystem. */
  output: string;
  /** The lines after the first, when there are any. */
  longOutput?: string;
  perfdata: PerfDatum[];
  /**
   * One per thing the check watches (an EC2 instance, a replica-set member, a Celery worker), for
   * the types that watch several: kept with the check's status (not in history's results) and
   * reported one by one where Platus reported them so. The check's own state stays `state`.
   */
  items?: CheckItem[];
  /** The HTTP status a service answered with (the per-check 2xx/3xx/4xx/5xx counters). */
  httpStatus?: number;
  /** No answer came at all (refused, unreachable, DNS, TLS, timed out): counted apart from HTTP errors. */
  networkFailure?: boolean;
}

/** The node a check runs on, for macros ($hostname$, $address$, $name$) and expressions. */
export interface CheckNode {
  /** The node's name in the cluster (node_name, else the hostname). */
  name: string;
  hostname: string;
  /** The address this node advertises. */
  address: string;
}

/** What one run gets. */
export interface CheckRunContext {
  /** Aborted when the run times out or the agent stops: pass it to sockets, fetch and processes. */
  signal: AbortSignal;
  timeoutMs: number;
  node: CheckNode;
  /**
   * A run an operator asked for (`checks run`, `targets NAME test`): a type may say more than a
   * scheduled run keeps in history (the http check's timed trace of a passing request).
   */
  verbose?: boolean;
}

/** One configured check of a type: made by the type's create(), kept while its definition lives. */
export interface CheckRunner {
  /**
   * One run. Never throws for a failure of the checked thing: that is a result (CRITICAL, UNKNOWN
   * with the reason). A throw is a bug or an abort; the subsystem records UNKNOWN with its message.
   */
  run(context: CheckRunContext): Promise<CheckResult>;
  /** Releases what the runner holds between runs (pooled connections of service checks). */
  close?(): Promise<void>;
}

/** A check's definition as the subsystem hands it to its type (validated against `schema`). */
export interface CheckSpec {
  name: string;
  /** The whole `check:` body: the type's own keys and the check's configuration values. */
  body: Readonly<Record<string, unknown>>;
  /** The pack it came from: its parameters are {parameters.…} in expressions. */
  packParameters: Readonly<Record<string, unknown>>;
}

/** A check type: `type:` in a `check:` definition names it, or a key that only it has (`script:`). */
export interface CheckType {
  /** e.g. 'evaluated', 'script', 'http'. */
  readonly type: string;
  /** One line for `opsbro checks types` and the docs. */
  readonly description: string;
  /** A definition without `type:` is this type's when it has this key (script, critical_if). */
  readonly impliedBy?: readonly string[];
  /** The keys the type reads, checked at load with the check's other keys (extra keys allowed). */
  readonly schema: TSchema;
  create(spec: CheckSpec, dependencies: CheckDependencies): CheckRunner;
}

/** What the evaluated check needs of the evaluator (narrow, as the detectors' DetectorEvaluator). */
export interface CheckEvaluator {
  evaluate(expression: string, scope?: EvaluationScope): Promise<unknown>;
  /** A regular expression over a text, with a deadline (the http check's search_regex). */
  searchText(pattern: string, text: string, label: string): Promise<boolean>;
}

/** What the agent gives every check type; a new type that needs more adds a field here. */
export interface CheckDependencies {
  evaluator: CheckEvaluator;
  /** `$nagiosplugins$`: checks.nagios_plugins_dir, default /usr/lib/nagios/plugins. */
  nagiosPluginsDir: string;
  /** Who starts plugin processes: the plugin launcher, or the agent itself (checks.plugin_launcher). */
  pluginSpawner: PluginSpawner;
  /** Where `vault_<key>:` values are read (checks.vault); none: a check with one is refused. */
  vault?: VaultClient;
}
