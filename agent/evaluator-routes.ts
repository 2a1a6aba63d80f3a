// The evaluator over HTTP: POST /agent/evaluator/eval and GET /agent/evaluator/functions. Kept
// beside main (not in agent/evaluator) because the evaluator imports no subsystem, the API included.
import { HttpError, type Route } from './api/index.js';
import { type Evaluator, ExpressionError, UnknownValueError } from './evaluator/index.js';

export function evaluatorRoutes(evaluator: Evaluator): Route[] {
  return [
    {
      method: 'POST',
      path: '/agent/evaluator/eval',
      access: 'admin',
      description: 'evaluate {"expression": "..."} against this node\'s live data',
      handler: async ({ body }) => {
        const expression = (body as { expression?: unknown } | undefined)?.expression;
        if (typeof expression !== 'string' || !expression.trim())
          throw new HttpError(400, 'expected {"expression": "..."}');
        try {
          const compiled = evaluator.compile(expression);
          const value = await evaluator.evaluate(compiled);
          return { expression, value, references: compiled.references };
        } catch (error) {
          if (error instanceof ExpressionError || error instanceof UnknownValueError)
            throw new HttpError(422, error.message);
          throw error;
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
