// The evaluator's bounds in one place. Expressions are written by operators but may also arrive
// through the API (`opsbro evaluator eval`): every size and time an expression can drive is capped
// here, so a typo or a hostile input costs an error message, never the agent's memory or event loop.

/** Longest expression accepted (characters). Also bounds nesting and literal sizes. */
export const MAX_EXPRESSION_CHARS = 4096;
/** Longest template accepted by renderTemplate (characters). */
export const MAX_TEMPLATE_CHARS = 65_536;
/** Longest string any step may produce (operators, functions, % formatting, the result). */
export const MAX_STRING_CHARS = 65_536;
/** Most list items a value may hold, nested lists included. */
export const MAX_LIST_ITEMS = 10_000;
/** Most characters a value may hold across all its strings (a list of long strings). */
export const MAX_VALUE_CHARS = 1_048_576;
/** Deepest list nesting a value may have (lists of lists ...). */
export const MAX_VALUE_DEPTH = 8;
/** Deepest bracket nesting ( ( [ ... accepted in an expression: keeps the recursive parser's stack small. */
export const MAX_BRACKET_DEPTH = 64;
/** Evaluation rounds per expression: each round may start one I/O call (see run.ts). */
export const MAX_IO_ROUNDS = 32;
/** An I/O call that has not settled after this long counts as unknown. */
export const IO_CALL_TIMEOUT_MS = 15_000;
/** Bytes read from a file by grep, parse_json_file, ...: beyond that the file is read up to this size. */
export const MAX_FILE_BYTES = 16 * 1024 * 1024;
/** check_tcp's timeout when the expression gives none, and the most it may ask for. */
export const CHECK_TCP_DEFAULT_TIMEOUT_S = 3;
export const CHECK_TCP_MAX_TIMEOUT_S = 10;
/**
 * File and name-lookup calls of the evaluator in flight at once. libuv's thread pool has 4 threads
 * for the whole agent; a call that hangs (hung mount, stuck /proc file, silent resolver) holds one,
 * so the evaluator may hold at most this many and the rest of the agent keeps the others.
 */
export const IO_GATE_CONCURRENCY = 2;
/** How long a grep_file regular expression may run over a file before it is abandoned (ReDoS). */
export const REGEXP_TIMEOUT_MS = 2_000;
/** Regular-expression pool defaults (evaluator.regexp in agent.yml overrides them). */
export const REGEXP_WORKERS = 2;
export const REGEXP_QUEUE_JOBS = 32;
export const REGEXP_QUEUE_BYTES = 64 * 1024 * 1024;
export const REGEXP_WORKER_IDLE_MS = 30_000;
/** Longest a regular expression waits in the pool's queue before the call is "busy". */
export const REGEXP_QUEUE_WAIT_MS = 5_000;
/** Widest width and largest precision a % format directive may ask for. */
export const MAX_FORMAT_WIDTH = 1024;
export const MAX_FORMAT_PRECISION = 100;
/** Steps the greedy dotted-key lookup may take before giving up (keys with dots allow backtracking). */
export const MAX_LOOKUP_STEPS = 10_000;
/** Compiled expressions kept per evaluator: detectors and checks re-evaluate the same text every interval. */
export const COMPILE_CACHE_ENTRIES = 512;
