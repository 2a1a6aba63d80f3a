// What the evaluator may read from the rest of the agent. main.ts injects these; the evaluator
// imports no subsystem (DESIGN.md, dependency direction).
import type { ProtectedPath } from './host/protected-paths.js';

export type { ProtectedPath };

/** Where the host's files are: file functions (grep, file_exists, ...) resolve absolute paths under `root`. */
export interface EvaluatorHostPaths {
  root: string;
  /**
   * What no file function may read, whatever path leads there (host/protected-paths.ts): the
   * agent's data dir and config dir, the cluster key file, the config files wherever they really
   * are. A directory protects everything below it. A function is called at each check (main's
   * reads the running config, so a reload applies); a list is fixed.
   */
  protectedPaths: readonly ProtectedPath[] | (() => readonly ProtectedPath[]);
}

export interface EvaluatorProviders {
  /** The latest successful data of a collector by name, undefined when it has none (yet). */
  collectorData(name: string): Record<string, unknown> | undefined;
  /** This node's groups: static (agent.yml) + detected. */
  groups(): readonly string[];
  /** The static groups only (agent.yml `groups:`). */
  staticGroups(): readonly string[];
  /** Cluster members in `group` whose state is `state` (alive, suspect, dead, left), from gossip. */
  countNodes(group: string, state: string): number;
  paths: EvaluatorHostPaths;
  /**
   * The environment variables get_env may read (evaluator.env_allow); read at each call, so a
   * reload applies. Names that look like secrets stay refused even when listed (host/environment.ts).
   */
  envAllowList(): readonly string[];
}

/** The values a definition brings to its expressions: `{configuration.…}`, `{parameters.…}`, `{variables.…}`. */
export interface EvaluationScope {
  /** The definition's own body (thresholds, ...). */
  configuration?: Record<string, unknown>;
  /** The parameters of the definition's pack, after conf.d overrides. */
  parameters?: Record<string, unknown>;
  variables?: Record<string, unknown>;
}
