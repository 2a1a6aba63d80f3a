// The agent's typed event bus: subsystems publish and subscribe here instead of importing each other.
// Later subsystems add their events to AgentEvents (node-join, check-state, ...).
import { EventEmitter } from 'node:events';
import type { CheckBrief, CheckState, StatusOverride } from '../shared/api-types.js';

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
  /** A KV record this node holds changed (a write, a delete, a repair): the websocket carries it. */
  'kv-change': { key: string; modify_index: number; deleted: boolean };
  /** A hard state change of one of this node's checks (handlers and the websocket consume it). */
  'check-state-change': CheckStateChangeEvent;
  /**
   * This node's check table changed (a state or state type, a check added or removed, the
   * override): gossip spreads the delta and bumps the version in the node's record.
   */
  'check-table-changed': {
    version: number;
    changed: CheckBrief[];
    removed: string[];
    override?: StatusOverride;
  };
}

/** A hard state change, as handlers (mail, Slack) and the websocket stream receive it. */
export interface CheckStateChangeEvent {
  node: string;
  node_id: string;
  check: string;
  display_name?: string;
  from: CheckState | 'pending';
  to: CheckState;
  attempt: number;
  output: string;
  long_output?: string;
  /** ISO time. */
  at: string;
  handlers: string[];
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

/** Told when a subscriber throws or its promise rejects: the bus logs it and carries on. */
export type SubscriberErrorHandler = (error: unknown, event: AgentEventName) => void;

export interface EventBusOptions {
  /** Default: one line on stderr (the agent passes its logger instead). */
  onSubscriberError?: SubscriberErrorHandler;
}

/**
 * Every subscriber runs isolated: one that throws (or returns a promise that rejects) is reported to
 * `onSubscriberError` and the others still run; the publisher never sees the error. A bug in one
 * subsystem's listener must not stop another's, nor fail the publisher's own work (a gossip probe, a
 * collector run) that merely announced something.
 */
export class EventBus {
  private readonly emitter = new EventEmitter();
  private readonly onSubscriberError: SubscriberErrorHandler;

  constructor(options: EventBusOptions = {}) {
    // Many subsystems subscribe to the same events; this is not a leak.
    this.emitter.setMaxListeners(100);
    this.onSubscriberError = options.onSubscriberError ?? reportOnStderr;
  }

  emit<K extends AgentEventName>(name: K, payload: AgentEvents[K]): void {
    this.emitter.emit(name, payload);
  }

  /** Whether anyone listens: a publisher may skip building a payload nobody reads. */
  hasListeners(name: AgentEventName): boolean {
    return this.emitter.listenerCount(name) > 0;
  }

  on<K extends AgentEventName>(
    name: K,
    // unknown, not void: an async listener's promise is watched for a rejection.
    listener: (payload: AgentEvents[K]) => unknown,
  ): () => void {
    const isolated = (payload: AgentEvents[K]): void => {
      try {
        const result: unknown = listener(payload);
        if (isPromiseLike(result)) result.then(undefined, (error: unknown) => this.report(error, name));
      } catch (error) {
        this.report(error, name);
      }
    };
    this.emitter.on(name, isolated);
    return () => this.emitter.off(name, isolated);
  }

  private report(error: unknown, event: AgentEventName): void {
    try {
      this.onSubscriberError(error, event);
    } catch {
      // The reporter itself failed (a closed log): the other subscribers must still run.
    }
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
  );
}

function reportOnStderr(error: unknown, event: AgentEventName): void {
  const message = error instanceof Error ? error.message || error.name : String(error);
  process.stderr.write(`opsbro: a subscriber of ${event} failed: ${message}\n`);
}
