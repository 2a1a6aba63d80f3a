// Reading a reference's value from collector data or the definition's scope. The data comes from
// collectors and definitions, so it is read defensively: only own data properties (a getter is
// never called, a prototype never consulted), no proxies, and only leaves that are values.
//
// Keys may contain dots (`eth0.100`, `/var/lib`), so a path's dots are not all separators: at
// each level the longest run of remaining parts that is a key wins, backing off to shorter runs
// when the longer one leads nowhere.
import { types } from 'node:util';
import { ExpressionError, notAvailable } from './errors.js';
import { finiteNumber } from './finite.js';
import { MAX_LIST_ITEMS, MAX_LOOKUP_STEPS } from './limits.js';
import type { EvaluationScope, EvaluatorProviders } from './providers.js';
import type { ReferenceSyntax } from './reference-syntax.js';
import { asEvaluatedValue, type EvaluatedPrimitive, type EvaluatedValue } from './values.js';

/** Marks "no such value", distinct from every value data can hold (lookups return it or the data found). */
export const MISSING: unique symbol = Symbol('missing');

export function resolveReference(
  reference: ReferenceSyntax,
  providers: EvaluatorProviders,
  scope: EvaluationScope,
): EvaluatedValue {
  const parts = reference.path.split('.');
  let value: EvaluatedValue | typeof MISSING;
  if (reference.source === 'collector') {
    const [name = '', ...rest] = parts;
    value = valueAt(providers.collectorData(name) ?? MISSING, rest, reference.name);
  } else {
    value = valueAt(ownData(scope, reference.source, reference.name), parts, reference.name);
  }
  if (value !== MISSING) return value;
  if (reference.fallback !== undefined) return reference.fallback;
  throw notAvailable(reference.name);
}

/** The value at `parts` below `root` (MISSING or data), trying dotted keys longest first. */
export function valueAt(
  root: unknown,
  parts: readonly string[],
  what: string,
): EvaluatedValue | typeof MISSING {
  let steps = 0;
  const walk = (node: unknown, from: number): unknown => {
    if (from === parts.length) return node;
    if (node === null || typeof node !== 'object') return MISSING;
    for (let to = parts.length; to > from; to--) {
      if (++steps > MAX_LOOKUP_STEPS) return MISSING;
      const child = ownData(node, parts.slice(from, to).join('.'), what);
      if (child === MISSING) continue;
      const found = walk(child, to);
      if (found !== MISSING) return found;
    }
    return MISSING;
  };
  const found = walk(root, 0);
  return found === MISSING ? MISSING : toValue(found, what);
}

/** An own data property of a plain object or array; accessors and proxies are refused unread. */
function ownData(container: object, key: string, what: string): unknown {
  if (types.isProxy(container)) throw new ExpressionError(`${what}: the data is a proxy, not plain data`);
  const descriptor = Object.getOwnPropertyDescriptor(container, key);
  if (!descriptor) return MISSING;
  if (!('value' in descriptor)) {
    throw new ExpressionError(
      `${what}: '${key}' is computed by code (an accessor), not data; it was not read`,
    );
  }
  return descriptor.value as unknown;
}

/** A leaf as an expression value: null counts as missing, objects and functions are mistakes. */
function toValue(value: unknown, what: string): EvaluatedValue | typeof MISSING {
  if (value === null || value === undefined) return MISSING;
  if (typeof value === 'string') return asEvaluatedValue(value, what);
  if (typeof value === 'number') return finiteNumber(value, () => what);
  if (typeof value === 'boolean') return value;
  if (typeof value === 'function') throw new ExpressionError(`${what} is a function, not a value`);
  if (typeof value !== 'object') throw new ExpressionError(`${what} is a ${typeof value}, not a value`);
  if (types.isProxy(value)) throw new ExpressionError(`${what}: the data is a proxy, not plain data`);
  if (Array.isArray(value)) return listValue(value, what);
  const keys = Object.keys(value).slice(0, 3);
  const example =
    keys.length > 0 ? `, e.g. {${what}.${keys[0]}} (keys: ${keys.join(', ')}...)` : ' (it is empty)';
  throw new ExpressionError(`${what} is an object: reference one of its values${example}`);
}

function listValue(list: readonly unknown[], what: string): EvaluatedPrimitive[] {
  if (list.length > MAX_LIST_ITEMS) {
    throw new ExpressionError(`${what}: list of ${list.length} items is over the limit of ${MAX_LIST_ITEMS}`);
  }
  const items: EvaluatedPrimitive[] = [];
  for (let index = 0; index < list.length; index++) {
    const raw = ownData(list, String(index), what);
    if (typeof raw !== 'number' && typeof raw !== 'string' && typeof raw !== 'boolean') {
      throw new ExpressionError(
        `${what}: a list can be used when it holds numbers, strings or booleans only`,
      );
    }
    items.push(toValue(raw, `${what}.${index}`) as EvaluatedPrimitive);
  }
  return items;
}
