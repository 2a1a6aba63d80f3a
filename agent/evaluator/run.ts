// One evaluation of one expression. expr-eval is synchronous, but some functions need I/O (files,
// DNS, TCP). An I/O function whose result this run does not know yet starts the work and throws
// IoPending; the evaluator awaits everything started, then evaluates again from the top, and this
// time the call answers from the run's cache. Each round can discover one more call, so rounds are
// bounded (MAX_IO_ROUNDS). Results, errors included, are kept for the whole run so every round
// sees the same answers; files are read once per run, so calls reading the same file agree too.
import { asEvaluatorError, type ExpressionError, UnknownValueError } from './errors.js';
import type { CallContext } from './functions/types.js';
import type { HostAccess } from './host/host-access.js';
import { IO_CALL_TIMEOUT_MS } from './limits.js';
import type { EvaluatorProviders } from './providers.js';
import type { RegexpPool } from './regexp/pool.js';
import type { EvaluatedValue } from './values.js';

/** Thrown through expr-eval to stop a round; never leaves the evaluator. */
export class IoPending extends Error {
  constructor() {
    super('an I/O function is still running');
    this.name = 'IoPending';
  }
}

/** A value or the error computing it failed with, kept so that every later read sees the same. */
export type Outcome = { value: EvaluatedValue } | { error: ExpressionError | UnknownValueError };

export function unwrap(outcome: Outcome): EvaluatedValue {
  if ('error' in outcome) throw outcome.error;
  return outcome.value;
}

export class EvaluationRun {
  readonly context: CallContext;
  private readonly outcomes = new Map<string, Outcome>();
  private readonly pending = new Map<string, Promise<void>>();
  private readonly files = new Map<string, Promise<string | undefined>>();

  constructor(
    providers: EvaluatorProviders,
    nowSeconds: number,
    private readonly host: HostAccess,
    regexps: RegexpPool,
  ) {
    this.context = { providers, nowSeconds, readFile: (file) => this.readFile(file), host, regexps };
  }

  /**
   * The result of the I/O call named `key` (function and arguments): known, or started now and
   * the round interrupted. `label` names the call in messages: "check_tcp('db', 5432)".
   */
  io(key: string, label: () => string, start: () => Promise<EvaluatedValue>): EvaluatedValue {
    const outcome = this.outcomes.get(key);
    if (outcome) return unwrap(outcome);
    if (!this.pending.has(key)) {
      const name = label();
      const settled = withTimeout(start, name).then(
        (value) => {
          this.outcomes.set(key, { value });
        },
        (error: unknown) => {
          this.outcomes.set(key, { error: asEvaluatorError(error, name) });
        },
      );
      this.pending.set(key, settled);
    }
    throw new IoPending();
  }

  /** Waits for every call started so far (none of them rejects: outcomes hold the errors). */
  async settle(): Promise<void> {
    const started = [...this.pending.values()];
    this.pending.clear();
    await Promise.all(started);
  }

  private readFile(file: string): Promise<string | undefined> {
    let text = this.files.get(file);
    if (!text) {
      text = this.host.readFile(file);
      this.files.set(file, text);
    }
    return text;
  }
}

/** The call's promise, or an UnknownValueError once IO_CALL_TIMEOUT_MS has passed. */
async function withTimeout(start: () => Promise<EvaluatedValue>, label: string): Promise<EvaluatedValue> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new UnknownValueError(`unknown: ${label} did not answer within ${IO_CALL_TIMEOUT_MS / 1000} s`),
        ),
      IO_CALL_TIMEOUT_MS,
    );
  });
  try {
    // start() inside the async chain: a synchronous throw becomes this call's outcome too.
    return await Promise.race([Promise.resolve().then(start), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
