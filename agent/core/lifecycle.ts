// Running the subsystems: start in order (undoing what started if one fails), stop in reverse within
// a budget (a subsystem that overruns is abandoned, not waited for), and the agent's overall state.
// It knows subsystems only through their interface.
import type { EventBus } from '../events/index.js';
import type { Logger } from '../log/index.js';
import type { AgentStatus, SubsystemState } from '../shared/api-types.js';
import type { Subsystem } from '../subsystem.js';

/** SIGTERM/SIGINT to exit: everything must be stopped within this budget. */
export const STOP_BUDGET_MS = 5_000;

export interface LifecycleOptions {
  /** In start order; stop runs in reverse. */
  subsystems: readonly Subsystem[];
  events: EventBus;
  logger: Logger;
  /** After every subsystem stopped (or was abandoned): release what the agent holds. */
  afterStop: () => Promise<void>;
}

export class Lifecycle {
  private status: 'initializing' | 'ok' | 'stopping' = 'initializing';
  private starting?: Promise<void>;
  private stopping?: Promise<void>;

  constructor(private readonly options: LifecycleOptions) {}

  /** Starts every subsystem in order; a stop requested meanwhile waits for this to settle. */
  start(): Promise<void> {
    this.starting = this.startAll();
    return this.starting;
  }

  /** Stops every subsystem in reverse order within STOP_BUDGET_MS. Idempotent. */
  stop(reason: string): Promise<void> {
    this.stopping ??= this.stopAll(reason);
    return this.stopping;
  }

  get running(): boolean {
    return this.status === 'ok';
  }

  /**
   * The agent's state from its subsystems': initializing until all started and none is still
   * initializing, degraded while one is in error or degraded, `left` after a graceful leave.
   */
  overall(subsystems: Record<string, SubsystemState>, left: boolean): AgentStatus {
    if (this.status !== 'ok') return this.status;
    const states = Object.values(subsystems).map((state) => state.status);
    if (states.includes('initializing')) return 'initializing';
    if (states.some((state) => state === 'error' || state === 'degraded')) return 'degraded';
    // After `gossip leave` the agent runs on, alone: not the same as a healthy member.
    return left ? 'left' : 'ok';
  }

  private async startAll(): Promise<void> {
    const started: Subsystem[] = [];
    try {
      for (const subsystem of this.options.subsystems) {
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
    if (!this.stopping) this.status = 'ok';
  }

  private async stopAll(reason: string): Promise<void> {
    const { logger, events } = this.options;
    this.status = 'stopping';
    logger.info('agent stopping', { reason });
    events.emit('agent-stopping', { reason });
    const deadline = Date.now() + STOP_BUDGET_MS - 500;
    // Let a subsystem that is starting finish, so it is not started after being stopped.
    await Promise.race([
      this.starting?.catch(() => undefined),
      sleep(Math.max(0, deadline - Date.now()) / 2),
    ]);
    for (const subsystem of [...this.options.subsystems].reverse()) {
      const remainingMs = Math.max(0, deadline - Date.now());
      const timedOut = await Promise.race([
        subsystem.stop().then(
          () => false,
          (error: unknown) => {
            logger.error('subsystem failed to stop cleanly', { subsystem: subsystem.name, error });
            return false;
          },
        ),
        sleep(remainingMs).then(() => true),
      ]);
      if (timedOut) logger.warn('subsystem did not stop in time, abandoned', { subsystem: subsystem.name });
    }
    await this.options.afterStop();
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
