// Time. now() is taken once per evaluation (CallContext.nowSeconds), so every use in one
// expression, and every I/O round of it, sees the same instant.
import type { EvaluatorFunction } from './types.js';

export const TIME_FUNCTIONS: readonly EvaluatorFunction[] = [
  {
    kind: 'plain',
    name: 'now',
    signature: 'now()',
    doc: 'The current time in whole Unix seconds.',
    call: (_args, context) => context.nowSeconds,
  },
];
