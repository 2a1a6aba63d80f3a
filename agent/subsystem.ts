// What every subsystem looks like to the agent that wires them (agent/main.ts) and runs them
// (agent/core/lifecycle.ts).
import type { LoadedConfig } from './config/index.js';
import type { SubsystemState } from './shared/api-types.js';
import type { MetricFamily } from './shared/exposition.js';
import type { Route } from './shared/http.js';

export interface Subsystem {
  readonly name: string;
  start(): Promise<void>;
  /** Must return within the agent's stop budget (5 s for all subsystems together). */
  stop(): Promise<void>;
  state(): SubsystemState;
  /** HTTP routes this subsystem offers; main hands them to the API. */
  routes?(): Route[];
  /** Its counters for the Prometheus exposition (GET /metrics), read at each scrape. */
  exposition?(): MetricFamily[];
  /**
   * Apply a reloaded configuration (settings and definitions). Restart-only settings already hold
   * their running values; which changed is reported by the agent, not by each subsystem.
   */
  reload?(config: LoadedConfig): void;
}
