// What a registered function is. One file per family under functions/ exports a list of these;
// registry.ts collects them. A function is either plain (answers at once) or I/O (answers with a
// promise; the evaluator runs the expression again once it has settled, see run.ts).
import type { HostAccess } from '../host/host-access.js';
import type { EvaluatorProviders } from '../providers.js';
import type { RegexpPool } from '../regexp/pool.js';
import type { EvaluatedValue } from '../values.js';
import type { Arguments } from './arguments.js';

/** What a function sees of the evaluation calling it. */
export interface CallContext {
  readonly providers: EvaluatorProviders;
  /** Unix seconds, fixed for one evaluation so that its rounds agree. */
  readonly nowSeconds: number;
  /** A host file's text (see HostAccess.readFile), read at most once per evaluation. */
  readonly readFile: (file: string) => Promise<string | undefined>;
  /** Stat and name lookups, through the same gate and protection rules as readFile. */
  readonly host: HostAccess;
  /** Where grep_file's regular expressions run (worker threads, bounded). */
  readonly regexps: RegexpPool;
}

interface FunctionInfo {
  name: string;
  /**
   * How it is called, as shown to operators: `grep_file(string, path, regexp=False)`. Parameters
   * with `=` are optional and a trailing `...` makes the last one repeatable (one or more); the arity checks and
   * the argument error messages are derived from it.
   */
  signature: string;
  /** One line. */
  doc: string;
}

export interface PlainFunction extends FunctionInfo {
  kind: 'plain';
  call(args: Arguments, context: CallContext): EvaluatedValue;
}

export interface IoFunction extends FunctionInfo {
  kind: 'io';
  run(args: Arguments, context: CallContext): Promise<EvaluatedValue>;
}

export type EvaluatorFunction = PlainFunction | IoFunction;
