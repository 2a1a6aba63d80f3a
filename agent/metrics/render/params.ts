// Binding a call's arguments to a function's declared parameters, with graphite-web's checks
// (functions/params.py validateParams): too many arguments, missing required ones, unknown keyword
// arguments, values outside a parameter's options, and per-type conversions (an integer parameter
// refuses 2.5 and 2.0, a float one takes "1.5", a boolean one takes 0/1 and "true"/"false").
import { AGG_FUNC_NAMES } from './aggfuncs.js';
import type { ArgValue, BoundArguments, ParamInfo } from './function-types.js';
import { InputParameterError } from './function-types.js';
import { pyFloatStr } from './py.js';
import { TimeSeries } from './series.js';
import { parseTimeOffset } from './time.js';

/** An evaluated argument and whether it was written as a float literal. */
export interface GivenArg {
  value: ArgValue;
  isFloat: boolean;
}

/** Validates and binds `positional` and `keyword` arguments to `params`; throws InputParameterError. */
export function bindArguments(
  functionName: string,
  params: readonly ParamInfo[],
  positional: readonly GivenArg[],
  keyword: ReadonlyMap<string, GivenArg>,
): BoundArguments {
  const last = params[params.length - 1];
  let positionalParams: readonly ParamInfo[];
  let keywordParams: readonly ParamInfo[];
  if (positional.length + keyword.size > params.length) {
    if (!last?.multiple)
      throw new InputParameterError(`Too many parameters specified for function "${functionName}"`);
    positionalParams = params;
    keywordParams = [];
  } else {
    positionalParams = params.slice(0, positional.length);
    keywordParams = params.slice(positional.length);
  }

  const single = new Map<string, GivenArg>();
  const multiple = new Map<string, GivenArg[]>();
  const put = (param: ParamInfo, given: GivenArg): void => {
    if (param.multiple) multiple.set(param.name, [...(multiple.get(param.name) ?? []), given]);
    else single.set(param.name, given);
  };

  positional.forEach((given, index) => {
    const param = positionalParams[Math.min(index, positionalParams.length - 1)];
    if (!param) throw new InputParameterError(`Too many parameters specified for function "${functionName}"`);
    put(param, { value: validateValue(functionName, param, given), isFloat: given.isFloat });
  });

  const used = new Set<string>();
  for (const param of keywordParams) {
    const given = keyword.get(param.name);
    if (given === undefined || given.value === null) {
      if (param.required) {
        throw new InputParameterError(
          `Missing required parameter "${param.name}" for function "${functionName}"`,
        );
      }
      if (given) used.add(param.name);
      continue;
    }
    used.add(param.name);
    put(param, { value: validateValue(functionName, param, given), isFloat: given.isFloat });
  }
  const unexpected = [...keyword.keys()].filter((name) => !used.has(name));
  if (unexpected.length > 0) {
    throw new InputParameterError(`Unexpected key word arguments: ${unexpected.join(', ')}`);
  }
  return new Bound(functionName, single, multiple);
}

class Bound implements BoundArguments {
  constructor(
    readonly functionName: string,
    private readonly single: ReadonlyMap<string, GivenArg>,
    private readonly multiple: ReadonlyMap<string, GivenArg[]>,
  ) {}

  get(name: string): ArgValue | undefined {
    const value = this.single.get(name)?.value ?? this.multiple.get(name)?.[0]?.value;
    return value === null ? undefined : value;
  }

  rest(name: string): ArgValue[] {
    return (this.multiple.get(name) ?? []).map((given) => given.value);
  }

  isFloatLiteral(name: string): boolean {
    return this.single.get(name)?.isFloat ?? false;
  }
}

/** graphite's Param.validateValue: None passes for optional parameters, then options, then type. */
function validateValue(functionName: string, param: ParamInfo, given: GivenArg): ArgValue {
  const { value } = given;
  if (value === null) {
    if (param.default !== undefined || !param.required) return null;
  }
  const options = optionsOf(param);
  if (options.length > 0 && !options.some((option) => option === value)) {
    throw new InputParameterError(
      `Invalid option specified for function "${functionName}" parameter "${param.name}": ${describe(value)}`,
    );
  }
  const converted = convert(param, given);
  if (converted === INVALID) {
    throw new InputParameterError(
      `Invalid "${param.type}" value specified for function "${functionName}" parameter "${param.name}": ${describe(value)}`,
    );
  }
  return converted;
}

/** The options a parameter's value must be among: its own plus its type's (aggregation names). */
export function optionsOf(param: ParamInfo): Array<string | number> {
  const typeOptions = param.type === 'aggFunc' || param.type === 'aggOrSeriesFunc' ? AGG_FUNC_NAMES : [];
  return [...new Set([...(param.options ?? []), ...typeOptions])].sort((a, b) =>
    String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0,
  );
}

const INVALID = Symbol('invalid');

function convert(param: ParamInfo, { value, isFloat }: GivenArg): ArgValue | typeof INVALID {
  switch (param.type) {
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string') {
        if (value.toLowerCase() === 'true') return true;
        if (value.toLowerCase() === 'false') return false;
        return INVALID;
      }
      if (typeof value === 'number') return value === 0 ? false : value === 1 ? true : INVALID;
      return Array.isArray(value) ? value.length > 0 : INVALID;
    case 'float':
      return toFloat(value);
    case 'integer':
    case 'node':
      return toInteger(value, isFloat);
    case 'intOrInf': {
      const integer = toInteger(value, isFloat);
      if (integer !== INVALID) return integer;
      const float = toFloat(value);
      return float === Infinity ? Infinity : INVALID;
    }
    case 'interval':
      if (typeof value !== 'string') return INVALID;
      try {
        parseTimeOffset(value);
        return value;
      } catch {
        return INVALID;
      }
    case 'seriesList':
      return Array.isArray(value) && value.every((series) => series instanceof TimeSeries) ? value : INVALID;
    default:
      return value;
  }
}

/** Python's float(): numbers, booleans, and numeric strings (inf and nan included). */
function toFloat(value: ArgValue): number | typeof INVALID {
  if (typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string') {
    const text = value.trim().toLowerCase();
    if (/^[+-]?(inf|infinity)$/.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
    if (/^[+-]?nan$/.test(text)) return NaN;
    if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(text)) return Number(text);
  }
  return INVALID;
}

/** Python's int() as graphite uses it: floats are refused rather than truncated. */
function toInteger(value: ArgValue, isFloat: boolean): number | typeof INVALID {
  if (typeof value === 'number') return Number.isInteger(value) && !isFloat ? value : INVALID;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string' && /^\s*[+-]?\d+\s*$/.test(value)) return Number(value);
  return INVALID;
}

function describe(value: ArgValue): string {
  if (Array.isArray(value)) return `a list of ${value.length} series`;
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : pyFloatStr(value);
  return String(value);
}
