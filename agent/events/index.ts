// The agent's typed event bus: subsystems publish and subscribe here instead of importing each other.
// Later subsystems add their events to AgentEvents (node-join, check-state, ...).
import { EventEmitter } from 'node:events';

export interface AgentEvents {
  /** Definitions and settings were re-read and applied (SIGHUP or `agent reload`). */
  'config-reloaded': { warnings: string[] };
  /** A reload failed; the previous configuration keeps running. */
  'config-reload-failed': { error: string };
  /** The agent is shutting down; subsystems stop in reverse start order after this. */
  'agent-stopping': { reason: string };
  /** The node's groups changed (static groups from config, later detected ones). */
  'groups-changed': { groups: string[] };
  /** Membership, from gossip: a node joined (or came back), changed, is suspected, died or left. */
  'node-join': { node: NodeSummary };
  'node-update': { node: NodeSummary };
  'node-suspect': { node: NodeSummary };
  'node-dead': { node: NodeSummary };
  'node-leave': { node: NodeSummary };
  /** Numbers for the metrics subsystem: a collector's numeric leaves, `<collector>.<path>`. */
  metrics: { source: string; timestamp: number; metrics: Array<[name: string, value: number]> };
}

/** A cluster member as events describe it. */
export interface NodeSummary {
  id: string;
  name: string;
  address: string;
  port: number;
  state: string;
  incarnation: number;
  datacenter: string;
  groups: string[];
}

export type AgentEventName = keyof AgentEvents;

export class EventBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    // Many subsystems subscribe to the same events; this is not a leak.
    this.emitter.setMaxListeners(100);
  }

  emit<K extends AgentEventName>(name: K, payload: AgentEvents[K]): void {
    this.emitter.emit(name, payload);
  }

  /** Whether anyone listens: a publisher may skip building a payload nobody reads. */
  hasListeners(name: AgentEventName): boolean {
    return this.emitter.listenerCount(name) > 0;
  }

  on<K extends AgentEventName>(name: K, listener: (payload: AgentEvents[K]) => void): () => void {
    this.emitter.on(name, listener);
    return () => this.emitter.off(name, listener);
  }
}
