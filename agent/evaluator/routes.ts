// The evaluator over HTTP: POST /agent/evaluator/eval and GET /agent/evaluator/functions. Routes
// are plain values (agent/shared/http.ts): the evaluator offers them without importing the API.
//
// An evaluation can hold a regexp worker, file reads and lookups for seconds, so each caller (API
// principal) may have only a few in flight: the excess gets 429 at once; an evaluation that finds
// the regexp pool's queue full gets 503. Both say when to retry.
import { Type } from '@sinclair/typebox';
import { bodyParser } from '../shared/body.js';
import { HttpError, type Route } from '../shared/http.js';
import { CallerSlots } from './caller-slots.js';
import { EvaluatorBusyError, ExpressionError, UnknownValueError } from './errors.js';
import type { Evaluator } from './evaluator.js';

const evalRequest = bodyParser(
  Type.Object({ expression: Type.String({ minLength: 1, pattern: '\\S' }) }, { additionalProperties: false }),
  '{"expression": "..."}',
);

/** How soon a caller refused for having too many evaluations in flight may try again. */
const CALLER_RETRY_AFTER_S = 1;

export interface EvaluatorRouteOptions {
  /** evaluator.max_evaluations_per_caller, read at each request so a reload applies. */
  maxEvaluationsPerCaller: () => number;
}

export function evaluatorRoutes(evaluator: Evaluator, options: EvaluatorRouteOptions): Route[] {
  const slots = new CallerSlots(options.maxEvaluationsPerCaller);
  return [
    {
      method: 'POST',
      path: '/agent/evaluator/eval',
      access: 'admin',
      description: 'evaluate {"expression": "..."} against this node\'s live data',
      handler: async ({ body, principal }) => {
        const { expression } = evalRequest.parse(body);
        const release = slots.tryAcquire(principal.name);
        if (!release) {
          throw new HttpError(
            429,
            `too many evaluations in flight for ${principal.name} (limit ${options.maxEvaluationsPerCaller()}, ` +
              `evaluator.max_evaluations_per_caller); retry in ${CALLER_RETRY_AFTER_S} s`,
            { 'Retry-After': String(CALLER_RETRY_AFTER_S) },
          );
        }
        try {
          const compiled = evaluator.compile(expression);
          const value = await evaluator.evaluate(compiled);
          return { expression, value, references: compiled.references };
        } catch (error) {
          if (error instanceof EvaluatorBusyError)
            throw new HttpError(503, error.message, { 'Retry-After': String(error.retryAfterS) });
          if (error instanceof ExpressionError || error instanceof UnknownValueError)
            throw new HttpError(422, error.message);
          throw error;
        } finally {
          release();
        }
      },
    },
    {
      method: 'GET',
      path: '/agent/evaluator/functions',
      access: 'read',
      description: 'the functions expressions may call: name, signature, one-line doc',
      handler: () => evaluator.functions(),
    },
  ];
}
