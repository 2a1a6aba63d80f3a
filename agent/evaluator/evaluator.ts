// The expression evaluator: compiles expressions (compile.ts), resolves their references lazily
// against collector data and the definition's scope (reference-resolve.ts), runs them with
// expr-eval through our operator and function tables, and repeats the run while I/O functions are
// still settling (run.ts). Detectors, checks and the API use it through this class only.
import {
  checkExpressionText,
  CompiledExpression,
  compileExpression,
  inExpression,
  referencesOf,
} from './compile.js';
import { messageOf } from '../shared/errors.js';
import { asEvaluatorError, ExpressionError, UnknownValueError } from './errors.js';
import { bindFunctions } from './functions/bind.js';
import { EVALUATOR_FUNCTIONS } from './functions/registry.js';
import type { FunctionDoc } from '../shared/api-types.js';
import { HostAccess } from './host/host-access.js';
import { COMPILE_CACHE_ENTRIES, MAX_IO_ROUNDS, MAX_TEMPLATE_CHARS } from './limits.js';
import { binaryOperators, unaryOperators } from './operators.js';
import { ExpressionParser } from './parser.js';
import type { EvaluationScope, EvaluatorProviders } from './providers.js';
import { resolveReference } from './reference-resolve.js';
import { BOOLEAN_WORDS, type Reference, type ReferenceSyntax } from './reference-syntax.js';
import { RegexpPool, type RegexpPoolLoad, type RegexpPoolOptions } from './regexp/pool.js';
import { EvaluationRun, IoPending, type Outcome, unwrap } from './run.js';
import { substituteReferences } from './substitute.js';
import { renderTemplateText } from './template.js';
import type { Timers } from '../shared/timers.js';
import { asEvaluatedValue, type EvaluatedPrimitive, type EvaluatedValue } from './values.js';

/** Names with a fixed value: the booleans in Python's spellings too (None is False), PI and E. */
const CONSTANTS: Record<string, EvaluatedPrimitive> = { ...BOOLEAN_WORDS, PI: Math.PI, E: Math.E };

/** How an evaluator spends threads (agent.yml `evaluator:`); every field has a default. */
export interface EvaluatorOptions {
  /** The regular-expression worker pool's bounds (regexp/pool.ts). */
  regexp?: Partial<Omit<RegexpPoolOptions, 'timers'>>;
  /** Timers for the pool and the I/O gate; tests drive them by hand. */
  timers?: Timers;
  /** Monotonic milliseconds for the host-file protection's cache (default performance.now). */
  clock?: () => number;
}

/** What an evaluator holds right now: regexp workers and queue, file and lookup calls in flight. */
export interface EvaluatorLoad {
  regexp: RegexpPoolLoad;
  io: { running: number; waiting: number };
}

export class Evaluator {
  private readonly parser: ExpressionParser;
  private readonly host: HostAccess;
  private readonly regexps: RegexpPool;
  /** Most recently used last (Map keeps insertion order). */
  private readonly compiled = new Map<string, CompiledExpression>();
  /** The run whose round is executing; set only while expr-eval runs, which is synchronous. */
  private activeRun: EvaluationRun | undefined;

  constructor(
    private readonly providers: EvaluatorProviders,
    options: EvaluatorOptions = {},
  ) {
    // Both make nothing until an expression needs them: a compile-only evaluator costs no thread.
    this.host = new HostAccess(providers.paths, {
      ...(options.timers ? { timers: options.timers } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
    });
    this.regexps = new RegexpPool({
      ...options.regexp,
      ...(options.timers ? { timers: options.timers } : {}),
    });
    this.parser = new ExpressionParser({
      functions: bindFunctions(EVALUATOR_FUNCTIONS, () => this.currentRun()),
      unaryOperators: unaryOperators(),
      binaryOperators: binaryOperators(),
      constants: CONSTANTS,
    });
  }

  /** Parses (syntax, unknown functions, bad references) without evaluating; throws ExpressionError. */
  compile(expression: string): CompiledExpression {
    const cached = this.compiled.get(expression);
    if (cached) {
      this.compiled.delete(expression);
      this.compiled.set(expression, cached);
      return cached;
    }
    const compiled = compileExpression(expression, this.parser, this);
    this.compiled.set(expression, compiled);
    if (this.compiled.size > COMPILE_CACHE_ENTRIES) {
      const oldest = this.compiled.keys().next();
      if (!oldest.done) this.compiled.delete(oldest.value);
    }
    return compiled;
  }

  /**
   * Evaluates; resolves to number|string|boolean|list (of those). Rejects with UnknownValueError
   * (a value is not available) or ExpressionError (anything else), never anything else.
   */
  async evaluate(
    expression: string | CompiledExpression,
    scope: EvaluationScope = {},
  ): Promise<EvaluatedValue> {
    const compiled = this.compiledFor(expression);
    const run = new EvaluationRun(this.providers, Math.floor(Date.now() / 1000), this.host, this.regexps);
    const values = this.referenceValues(compiled, scope);
    try {
      for (let round = 0; round < MAX_IO_ROUNDS; round++) {
        try {
          return this.runRound(compiled, values, run);
        } catch (error) {
          if (!(error instanceof IoPending)) throw error;
          await run.settle();
        }
      }
      throw new ExpressionError(
        `the expression calls more than ${MAX_IO_ROUNDS - 1} different I/O functions`,
      );
    } catch (error) {
      throw evaluationError(error, compiled.source);
    }
  }

  /** Renders a template: each {ref}/{{ref}} replaced by its value as a string. */
  renderTemplate(template: string, scope: EvaluationScope = {}): Promise<string> {
    // The executor's throws become rejections, as evaluate()'s do.
    return new Promise((resolve) => resolve(this.renderNow(template, scope)));
  }

  /** The references an expression uses, once each: [{source: 'collector', path: 'cpustats.cpuall.%idle'}]. */
  references(expression: string): Reference[] {
    return referencesOf(substituteReferences(checkExpressionText(expression)).slots);
  }

  /** Registered functions, sorted by name. */
  functions(): FunctionDoc[] {
    return EVALUATOR_FUNCTIONS.map(({ name, signature, doc }) => ({ name, signature, doc }));
  }

  load(): EvaluatorLoad {
    return { regexp: this.regexps.load(), io: this.host.ioLoad() };
  }

  /**
   * Whether `pattern` matches anywhere in `text` (case-sensitive), run in a regexp worker with a
   * deadline like grep_file's: an http check's search_regex over a body a stranger wrote.
   */
  searchText(pattern: string, text: string, label: string): Promise<boolean> {
    return this.regexps.match(pattern, text, label, true);
  }

  /** Terminates the regexp workers (waiting calls fail); resolves once their threads are gone. */
  close(): Promise<void> {
    return this.regexps.close();
  }

  private renderNow(template: string, scope: EvaluationScope): string {
    if (typeof template !== 'string') {
      throw new ExpressionError(`a template must be a string, got ${typeof template}`);
    }
    if (template.length > MAX_TEMPLATE_CHARS) {
      throw new ExpressionError(
        `template of ${template.length} characters is over the limit of ${MAX_TEMPLATE_CHARS}`,
      );
    }
    try {
      return renderTemplateText(template, (reference) => unwrap(this.outcome(reference, scope)));
    } catch (error) {
      throw asEvaluatorError(error, 'template');
    }
  }

  private compiledFor(expression: string | CompiledExpression): CompiledExpression {
    if (expression instanceof CompiledExpression) {
      // Compiled by another Evaluator: its program calls that evaluator's functions; recompile.
      return expression.owner === this ? expression : this.compile(expression.source);
    }
    return this.compile(expression);
  }

  private currentRun(): EvaluationRun {
    if (!this.activeRun) throw new ExpressionError('functions run only while an expression is evaluated');
    return this.activeRun;
  }

  private runRound(compiled: CompiledExpression, values: object, run: EvaluationRun): EvaluatedValue {
    // Restored, not cleared: a provider could start another evaluation from inside this round.
    const previous = this.activeRun;
    this.activeRun = run;
    let result: unknown;
    try {
      result = compiled.program.evaluate(values);
    } finally {
      this.activeRun = previous;
    }
    return asEvaluatedValue(result, 'the expression');
  }

  /**
   * The generated variables' values, each resolved the first time expr-eval reads it: a reference
   * in a branch not taken (`is_in_group('redis') and {collector.redis.ops} > 0`) is never needed.
   * The first outcome is kept, so every I/O round sees the same data.
   */
  private referenceValues(compiled: CompiledExpression, scope: EvaluationScope): object {
    const values = Object.create(null) as object;
    for (const { variable, reference } of compiled.slots) {
      let outcome: Outcome | undefined;
      Object.defineProperty(values, variable, {
        enumerable: true,
        get: () => unwrap((outcome ??= this.outcome(reference, scope))),
      });
    }
    return values;
  }

  private outcome(reference: ReferenceSyntax, scope: EvaluationScope): Outcome {
    try {
      return { value: resolveReference(reference, this.providers, scope) };
    } catch (error) {
      // A provider that throws (collector registry, gossip) is a bug elsewhere, reported as such.
      return { error: asEvaluatorError(error, reference.name) };
    }
  }
}

/** Any failure during a run, as one of the two errors, with the expression for context. */
function evaluationError(error: unknown, source: string): ExpressionError | UnknownValueError {
  if (error instanceof UnknownValueError) return error;
  if (error instanceof ExpressionError) return new ExpressionError(error.message + inExpression(source));
  if (error instanceof RangeError) {
    // The engine's stack ran out inside expr-eval's recursive evaluation.
    return new ExpressionError(`the expression is nested too deeply${inExpression(source)}`);
  }
  const message = messageOf(error);
  // expr-eval's own words when something that is not a function is called: `(1)(2)`.
  if (/not an allowed function/i.test(message)) {
    return new ExpressionError(`only the registered functions can be called${inExpression(source)}`);
  }
  return new ExpressionError(`cannot evaluate: ${message}${inExpression(source)}`);
}
