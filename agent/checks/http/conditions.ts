// Gatus-style conditions for the http check (`conditions:`): `[STATUS] == 200`,
// `[RESPONSE_TIME] < 300`, `[BODY].data.items[0].name == pat(web-*)`, `len([BODY].items) > 0`,
// `has([BODY].error) == false`, `[STATUS] == any(200, 204)`, `[CERTIFICATE_EXPIRATION] > 48h`,
// `[CONNECTED] == true`. Compiled when the check loads (a typo is a config error naming the
// column), evaluated against what one request observed. A failed condition reads as Gatus
// prints it, with the value seen: `[STATUS] (503) == 200`.

/** What one request observed, as the placeholders read it. */
import { parseJsonPath, valueAtPath, type JsonPath } from './json-path.js';

export interface HttpObservation {
  /** Undefined when no response came. */
  status?: number;
  responseTimeMs: number;
  /** The body as text (bounded by the check); undefined without a response. */
  body?: string;
  connected: boolean;
  /** Milliseconds until the server's certificate expires (https only). */
  certificateExpirationMs?: number;
  /** The address connected to. */
  ip?: string;
}

export interface ConditionOutcome {
  ok: boolean;
  /** The condition with the value seen, as Gatus shows it: `[STATUS] (503) == 200`. */
  shown: string;
}

export interface CompiledCondition {
  readonly text: string;
  evaluate(observation: HttpObservation): ConditionOutcome;
}

export class ConditionError extends Error {
  override readonly name = 'ConditionError';
}

type Operator = '==' | '!=' | '<=' | '>=' | '<' | '>';
// Longest first, so that `<=` is not read as `<`.
const OPERATORS: readonly Operator[] = ['==', '!=', '<=', '>=', '<', '>'];
const PLACEHOLDERS = [
  'STATUS',
  'RESPONSE_TIME',
  'BODY',
  'CONNECTED',
  'CERTIFICATE_EXPIRATION',
  'IP',
] as const;
type Placeholder = (typeof PLACEHOLDERS)[number];

/** One side of a condition, compiled. */
type Term =
  | { kind: 'literal'; text: string }
  | { kind: 'placeholder'; name: Placeholder; path: JsonPath; text: string }
  | { kind: 'len'; of: Term & { kind: 'placeholder' }; text: string }
  | { kind: 'has'; of: Term & { kind: 'placeholder' }; text: string }
  | { kind: 'pattern'; pattern: RegExp; text: string }
  | { kind: 'any'; options: string[]; text: string };

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function compileCondition(text: string): CompiledCondition {
  const { operator, at } = findOperator(text);
  const left = compileTerm(text.slice(0, at).trim(), text, 'left');
  const right = compileTerm(text.slice(at + operator.length).trim(), text, 'right');
  if (left.kind === 'pattern' || left.kind === 'any')
    throw new ConditionError(
      `${text}: ${left.kind === 'pattern' ? 'pat()' : 'any()'} goes on the right side`,
    );
  if ((right.kind === 'pattern' || right.kind === 'any') && operator !== '==' && operator !== '!=')
    throw new ConditionError(`${text}: pat() and any() compare with == or != only`);
  return {
    text,
    evaluate(observation) {
      const seen = resolve(left, observation);
      const ok = compare(seen, operator, right, observation);
      const shownLeft = left.kind === 'literal' ? left.text : `${left.text} (${seen ?? 'none'})`;
      return { ok, shown: `${shownLeft} ${operator} ${right.text}` };
    },
  };
}

function findOperator(text: string): { operator: Operator; at: number } {
  let depth = 0;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (quote) {
      if (char === quote) quote = undefined;
      continue;
    }
    if (char === '"' || char === "'") quote = char;
    else if (char === '(' || char === '[') depth++;
    else if (char === ')' || char === ']') depth--;
    else if (depth === 0) {
      const operator = OPERATORS.find((candidate) => text.startsWith(candidate, i));
      if (operator) return { operator, at: i };
    }
  }
  throw new ConditionError(`${text}: no comparison (==, !=, <, <=, >, >=), e.g. "[STATUS] == 200"`);
}

function compileTerm(term: string, condition: string, side: 'left' | 'right'): Term {
  if (term === '') throw new ConditionError(`${condition}: nothing on the ${side} of the comparison`);
  const call = /^(len|has|pat|any)\((.*)\)$/s.exec(term);
  if (call) {
    const [, name, inner] = call as unknown as [string, string, string];
    if (name === 'len' || name === 'has') {
      const of = compileTerm(inner.trim(), condition, side);
      if (of.kind !== 'placeholder')
        throw new ConditionError(`${condition}: ${name}() takes a placeholder, e.g. ${name}([BODY].items)`);
      return { kind: name, of, text: term };
    }
    if (name === 'pat') return { kind: 'pattern', pattern: globPattern(unquote(inner.trim())), text: term };
    return { kind: 'any', options: inner.split(',').map((option) => unquote(option.trim())), text: term };
  }
  const placeholder = /^\[([A-Z_]+)\](.*)$/s.exec(term);
  if (placeholder) {
    const [, name, rest] = placeholder as unknown as [string, string, string];
    if (!(PLACEHOLDERS as readonly string[]).includes(name))
      throw new ConditionError(
        `${condition}: unknown placeholder [${name}] (known: ${PLACEHOLDERS.map((p) => `[${p}]`).join(', ')})`,
      );
    const path =
      rest.startsWith('.') || rest.startsWith('[') || rest === '' ? parseJsonPath(rest) : undefined;
    if (!path)
      throw new ConditionError(`${condition}: cannot read the path ${JSON.stringify(rest)} (.key, [index])`);
    if (path.length > 0 && name !== 'BODY')
      throw new ConditionError(`${condition}: only [BODY] takes a path (.key, [index])`);
    return { kind: 'placeholder', name: name as Placeholder, path, text: term };
  }
  return { kind: 'literal', text: unquote(term) };
}

function unquote(text: string): string {
  return /^(["']).*\1$/s.test(text) ? text.slice(1, -1) : text;
}

/** Gatus' pat(): `*` any run of characters, the rest literal, the whole value. */
function globPattern(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`, 's');
}

/** A placeholder's or function's value as text (numbers as decimal), or undefined. */
function resolve(term: Term, observation: HttpObservation): string | undefined {
  switch (term.kind) {
    case 'literal':
      return term.text;
    case 'placeholder':
      return asText(placeholderValue(term, observation));
    case 'len': {
      const value = placeholderValue(term.of, observation);
      if (value === undefined) return undefined;
      if (typeof value === 'string' || Array.isArray(value)) return String(value.length);
      if (value !== null && typeof value === 'object') return String(Object.keys(value).length);
      return String(asText(value)?.length ?? 0);
    }
    case 'has':
      return String(placeholderValue(term.of, observation) !== undefined);
    case 'pattern':
    case 'any':
      return term.text;
  }
}

function placeholderValue(term: Term & { kind: 'placeholder' }, observation: HttpObservation): unknown {
  switch (term.name) {
    case 'STATUS':
      return observation.status;
    case 'RESPONSE_TIME':
      return Math.round(observation.responseTimeMs);
    case 'CONNECTED':
      return observation.connected;
    case 'CERTIFICATE_EXPIRATION':
      return observation.certificateExpirationMs === undefined
        ? undefined
        : Math.round(observation.certificateExpirationMs);
    case 'IP':
      return observation.ip;
    case 'BODY': {
      if (observation.body === undefined) return undefined;
      if (term.path.length === 0) return observation.body;
      return valueAtPath(parsedBody(observation), term.path);
    }
  }
}

const parsedBodies = new WeakMap<HttpObservation, unknown>();

/** The body as JSON, parsed once per observation (undefined when it is not JSON). */
function parsedBody(observation: HttpObservation): unknown {
  if (parsedBodies.has(observation)) return parsedBodies.get(observation);
  let parsed: unknown;
  try {
    parsed = JSON.parse(observation.body ?? '');
  } catch {
    parsed = undefined;
  }
  parsedBodies.set(observation, parsed);
  return parsed;
}

function asText(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  return JSON.stringify(value);
}

function compare(
  seen: string | undefined,
  operator: Operator,
  right: Term,
  observation: HttpObservation,
): boolean {
  if (seen === undefined) return operator === '!=';
  if (right.kind === 'pattern') return right.pattern.test(seen) === (operator === '==');
  if (right.kind === 'any') return right.options.includes(seen) === (operator === '==');
  const wanted = resolve(right, observation);
  if (wanted === undefined) return operator === '!=';
  const a = numberOf(seen);
  const b = numberOf(wanted);
  if (operator === '==') return a !== undefined && b !== undefined ? a === b : seen === wanted;
  if (operator === '!=') return a !== undefined && b !== undefined ? a !== b : seen !== wanted;
  // Ordering only between numbers (durations in ms): anything else is false, as in Gatus.
  if (a === undefined || b === undefined) return false;
  switch (operator) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
  }
}

/** A number, or a duration (`48h`, `1h30m`, `500ms`) in milliseconds. */
function numberOf(text: string): number | undefined {
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  const parts = /^(\d+(?:ms|s|m|h|d))+$/.test(text) ? text.match(/\d+(?:ms|s|m|h|d)/g) : null;
  if (!parts) return undefined;
  let total = 0;
  for (const part of parts) {
    const [, amount, unit] = /^(\d+)(ms|s|m|h|d)$/.exec(part) as unknown as [string, string, string];
    total += Number(amount) * DURATION_UNITS_MS[unit]!;
  }
  return total;
}
