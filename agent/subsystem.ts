// What every subsystem looks like to the agent that wires them (agent/main.ts).
import type { AgentSettings } from './config/index.js';
import type { Route } from './api/router.js';

/** Reported per subsystem in /agent/info and /agent/state. */
export type SubsystemStatus = 'initializing' | 'ok' | 'degraded' | 'error' | 'stopped';

export interface SubsystemState {
  status: SubsystemStatus;
  /** One line for an operator when status is not ok. */
  message?: string;
}

export interface Subsystem {
  readonly name: string;
  start(): Promise<void>;
  /** Must return within the agent's stop budget (5 s for all subsystems together). */
  stop(): Promise<void>;
  state(): SubsystemState;
  /** HTTP routes this subsystem offers; main hands them to the API. */
  routes?(): Route[];
  /** Apply new settings after a reload; keys that need a restart are reported by main. */
  reload?(settings: AgentSettings): void;
}
