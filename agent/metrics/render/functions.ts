// The registry of render functions: each one's implementation, and the description graphite-web's
// /functions endpoint serves for it (name, group, description, params with their types, defaults,
// options), which Grafana's Graphite data source loads to drive its function editor.
import { optionsOf } from './params.js';
import type { FunctionDefinition, FunctionInfo, ParamInfo } from './function-types.js';
import { COMBINE_FUNCTIONS } from './functions-combine.js';
import { FILTER_FUNCTIONS } from './functions-filter.js';
import { TIME_FUNCTIONS } from './functions-time.js';
import { TRANSFORM_FUNCTIONS } from './functions-transform.js';

/** Every implemented function by name (aliases such as `sum` and `avg` included). */
export const FUNCTION_DEFINITIONS: ReadonlyMap<string, FunctionDefinition> = new Map(
  [...COMBINE_FUNCTIONS, ...TRANSFORM_FUNCTIONS, ...TIME_FUNCTIONS, ...FILTER_FUNCTIONS].map((definition) => [
    definition.name,
    definition,
  ]),
);

/** graphite-web's Param.toJSON: options merged with the type's and sorted; empty keys left out. */
function paramInfo(param: ParamInfo): ParamInfo {
  const info: ParamInfo = { name: param.name, type: param.type };
  if (param.required) info.required = true;
  if (param.default !== undefined) info.default = param.default;
  if (param.multiple) info.multiple = true;
  const options = optionsOf(param);
  if (options.length > 0) info.options = options;
  if (param.suggestions && param.suggestions.length > 0) info.suggestions = [...param.suggestions];
  return info;
}

function functionInfo(definition: FunctionDefinition): FunctionInfo {
  return {
    name: definition.name,
    function: definition.signature,
    description: definition.description,
    module: 'graphite.render.functions',
    group: definition.group,
    params: definition.params.map(paramInfo),
  };
}

/** What graphite-web's `/functions` endpoint returns, keyed by function name. */
export const FUNCTIONS: Readonly<Record<string, FunctionInfo>> = Object.fromEntries(
  [...FUNCTION_DEFINITIONS.values()].map((definition) => [definition.name, functionInfo(definition)]),
);

/**
 * The `/functions` response body (or, with `grouped`, graphite's `?grouped=1` shape: group → name →
 * info), as graphite-web writes it: Python's infinite defaults become `1e9999`, which JSON.parse
 * reads back as Infinity (Grafana expects that, since graphite emits `Infinity`, which is not JSON).
 */
export function functionsJson(options: { grouped?: boolean; group?: string } = {}): string {
  const selected = Object.values(FUNCTIONS).filter(
    (info) => options.group === undefined || info.group === options.group,
  );
  let body: unknown;
  if (options.grouped) {
    const grouped: Record<string, Record<string, FunctionInfo>> = {};
    for (const info of selected) (grouped[info.group] ??= {})[info.name] = info;
    body = grouped;
  } else {
    body = Object.fromEntries(selected.map((info) => [info.name, info]));
  }
  const marker = '__opsbro_infinity__';
  const text = JSON.stringify(body, (_key, value: unknown) =>
    value === Infinity ? marker : value === -Infinity ? `-${marker}` : value,
  );
  return text.replaceAll(`"-${marker}"`, '-1e9999').replaceAll(`"${marker}"`, '1e9999');
}
