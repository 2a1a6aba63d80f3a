// The expression evaluator: detectors' apply_if, evaluated checks, templates, `opsbro evaluator eval`.
// It imports no other subsystem; data reaches it through EvaluatorProviders (providers.ts).
export { Evaluator, type EvaluatorLoad, type EvaluatorOptions } from './evaluator.js';
export { CompiledExpression } from './compile.js';
export { EvaluatorBusyError, ExpressionError, expressionProblem, UnknownValueError } from './errors.js';
export { CallerSlots } from './caller-slots.js';
export { isTruthy, type EvaluatedPrimitive, type EvaluatedValue } from './values.js';
export type { Reference, ReferenceSource } from './reference-syntax.js';
export type { EvaluationScope, EvaluatorHostPaths, EvaluatorProviders, ProtectedPath } from './providers.js';
export { evaluatorRoutes, type EvaluatorRouteOptions } from './routes.js';
