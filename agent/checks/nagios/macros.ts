// `$macro$` in a `script:` line: the check's own values by dotted path ($mailq.warning$ is the
// body's mailq.warning), $nagiosplugins$, and the node's $hostname$, $address$ and $name$. `$$` is
// a literal `$`. Names are checked when the check is created, so an unknown macro is a config error
// at load, never a surprise at run; only the node's values are looked up at each run.
import { closestWord } from '../../shared/spelling.js';
import type { CheckNode } from '../check-type.js';

/** Piece of a template: literal text, or a macro to replace (its name, without the dollars). */
export type TemplatePart = { text: string } | { macro: string; index: number };

/** The node macros, looked up at each run; they win over check values of the same name. */
export const NODE_MACROS = {
  hostname: (node: CheckNode) => node.hostname,
  address: (node: CheckNode) => node.address,
  name: (node: CheckNode) => node.name,
} as const satisfies Record<string, (node: CheckNode) => string>;

export type NodeMacro = keyof typeof NODE_MACROS;

export const PLUGINS_DIR_MACRO = 'nagiosplugins';

/** A macro name: letters, digits, `_`, `-`, and dots between the keys of a path. */
const MACRO_NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** A macro the line cannot use, with where it is in the text (0-based). */
export class MacroError extends Error {
  constructor(
    message: string,
    readonly index: number,
  ) {
    super(message);
    this.name = 'MacroError';
  }
}

/** Splits `text` into literal text and macros; `$$` becomes `$`. Throws a MacroError for a lone `$`. */
export function parseTemplate(text: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let literal = '';
  let index = 0;
  while (index < text.length) {
    const dollar = text.indexOf('$', index);
    if (dollar < 0) {
      literal += text.slice(index);
      break;
    }
    literal += text.slice(index, dollar);
    if (text[dollar + 1] === '$') {
      literal += '$';
      index = dollar + 2;
      continue;
    }
    const closing = text.indexOf('$', dollar + 1);
    if (closing < 0) {
      throw new MacroError('a lone $ (write $$ for a literal dollar, or close the macro: $name$)', dollar);
    }
    const name = text.slice(dollar + 1, closing);
    if (!MACRO_NAME.test(name)) {
      throw new MacroError(
        `$${name}$ is not a macro name (letters, digits, _ and -, dots between keys; $$ for a literal dollar)`,
        dollar,
      );
    }
    if (literal) parts.push({ text: literal });
    literal = '';
    parts.push({ macro: name, index: dollar });
    index = closing + 1;
  }
  if (literal) parts.push({ text: literal });
  return parts;
}

/** The names every script line may use besides its check's values. */
function reservedNames(): string[] {
  return [PLUGINS_DIR_MACRO, ...Object.keys(NODE_MACROS)];
}

/** Every dotted path to a scalar in `body`, for "did you mean". */
function scalarPaths(value: unknown, prefix = ''): string[] {
  if (!isRecord(value)) return prefix ? [prefix] : [];
  return Object.entries(value).flatMap(([key, child]) =>
    scalarPaths(child, prefix ? `${prefix}.${key}` : key),
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * What a macro stands for: a fixed text (a check value, the plugins dir) or a node macro, read at
 * each run. Throws a MacroError naming the macro when the check has no such value, or when the
 * value is not one piece of text (an object, a list, null).
 */
export function resolveMacro(
  part: { macro: string; index: number },
  body: Readonly<Record<string, unknown>>,
  nagiosPluginsDir: string,
): { text: string } | { node: NodeMacro } {
  const name = part.macro;
  if (Object.hasOwn(NODE_MACROS, name)) return { node: name as NodeMacro };
  if (name === PLUGINS_DIR_MACRO) return { text: nagiosPluginsDir };
  let value: unknown = body;
  for (const key of name.split('.')) {
    value = isRecord(value) && Object.hasOwn(value, key) ? value[key] : undefined;
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    return { text: String(value) };
  }
  if (value === undefined) {
    const suggestion = closestWord(name, [...reservedNames(), ...scalarPaths(body)]);
    const hint = suggestion ? ` (did you mean $${suggestion}$?)` : '';
    throw new MacroError(
      `unknown macro $${name}$${hint}: a macro is a value of the check by its dotted path ` +
        `($mailq.warning$), or one of ${reservedNames()
          .map((reserved) => `$${reserved}$`)
          .join(', ')}`,
      part.index,
    );
  }
  const what = value === null ? 'null' : Array.isArray(value) ? 'a list' : 'a map';
  const example = isRecord(value) ? Object.keys(value)[0] : undefined;
  throw new MacroError(
    `macro $${name}$ is ${what}, not a value` +
      (example ? `: name one inside it, e.g. $${name}.${example}$` : ''),
    part.index,
  );
}
