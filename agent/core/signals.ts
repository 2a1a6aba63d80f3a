// What the agent does on signals: SIGTERM/SIGINT stop it within the budget (a second one exits at
// once), SIGHUP reloads, an uncaught exception stops it (exit 1) after writing why.
import { constants as osConstants } from 'node:os';
import type { Logger } from '../log/index.js';
import { STOP_BUDGET_MS } from './lifecycle.js';

export interface SignalTarget {
  stop(reason: string): Promise<void>;
  /** Throws when the new configuration is refused (it logged why). */
  reload(): unknown;
}

export function installSignalHandlers(agent: SignalTarget, logger: Logger): void {
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
