// The pure core of the graphite-web compatible render API: parse and evaluate targets against a
// fetch function, describe the functions (/functions), match metric globs (/metrics/find), read
// time expressions (from/until), and write the JSON body. No HTTP and no storage here.
export { evaluateTarget, MAX_FETCHES, MAX_FUNCTION_CALLS, type EvaluateContext } from './evaluate.js';
export { FUNCTIONS, FUNCTION_DEFINITIONS, functionsJson } from './functions.js';
export type { FunctionInfo, ParamInfo, ParamType } from './function-types.js';
export { InputParameterError } from './function-types.js';
export {
  compileGlob,
  compileGlobNodes,
  compileNodeGlob,
  expandBraces,
  GlobError,
  isGlob,
  matchNodes,
  MAX_GLOB_ALTERNATIVES,
  MAX_GLOB_CHARS,
  type NodeMatcher,
} from './glob.js';
export {
  MAX_CALL_DEPTH,
  MAX_TARGET_CHARS,
  parseTarget,
  pathExpressionsOf,
  TargetSyntaxError,
  type ArgNode,
  type CallNode,
  type ExpressionNode,
  type PathNode,
} from './parser.js';
// renderJson stays in render-json.ts, the tests' reference for renderJsonText.
export { renderJsonText, type RenderedSeries, type RenderJsonOptions } from './render-json.js';
export {
  DEFAULT_XFILES_FACTOR,
  TimeSeries,
  type ConsolidationFunc,
  type TimeSeriesOptions,
} from './series.js';
export { parseSeriesTags } from './tags.js';
export { parseAtTime, parseTimeOffset } from './time.js';
