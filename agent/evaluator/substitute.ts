// First pass over an expression: every `{reference}` outside string literals becomes a generated
// variable (`__ref0`, ...) whose value is resolved at evaluation time, so expr-eval never sees the
// `%`, `/` or dots of a path. The replacement is padded to the reference's length: columns in
// expr-eval's parse errors still point into the expression as the operator wrote it.
import { errorAt } from './errors.js';
import { parseReferenceAt, type ReferenceSyntax } from './reference-syntax.js';
import { columnOf, isNameChar, skipLiteral } from './source-scan.js';

/** The prefix of generated variables; operators cannot write names starting with it. */
export const REFERENCE_VARIABLE_PREFIX = '__ref';

/** A reference and the variable that stands for it in the rewritten text. */
export interface ReferenceSlot {
  variable: string;
  reference: ReferenceSyntax;
}

export interface SubstitutedExpression {
  /** The expression with references replaced, same length and columns as the source. */
  text: string;
  /** One slot per distinct reference (same path and default), in order of first use. */
  slots: ReferenceSlot[];
}

export function substituteReferences(source: string): SubstitutedExpression {
  const slots: ReferenceSlot[] = [];
  const byKey = new Map<string, ReferenceSlot>();
  let text = '';
  let index = 0;
  while (index < source.length) {
    const char = source[index] as string;
    // Strings and comments are copied as they are; an unterminated string is left to expr-eval.
    const literalEnd = skipLiteral(source, index);
    if (literalEnd !== undefined) {
      text += source.slice(index, literalEnd);
      index = literalEnd;
      continue;
    }
    if (char === '{') {
      const reference = parseReferenceAt(source, index);
      if (!reference) {
        const advice =
          'references look like {collector.NAME.path}, {configuration.path}, {parameters.path} or {variables.path}';
        throw errorAt(
          source,
          index,
          `unexpected '{': ${advice}`,
          () => `unexpected '{' at column ${columnOf(source, index)}: ${advice}`,
        );
      }
      const key = JSON.stringify([reference.name, reference.fallback ?? null]);
      let slot = byKey.get(key);
      if (!slot) {
        slot = { variable: `${REFERENCE_VARIABLE_PREFIX}${slots.length}`, reference };
        byKey.set(key, slot);
        slots.push(slot);
      }
      // A leading space keeps `x{ref}` from gluing into one name; the shortest reference
      // ({variables.x}, 13 characters) is longer than any variable we generate.
      text += ` ${slot.variable}`.padEnd(reference.end - index, ' ');
      index = reference.end;
      continue;
    }
    if (char === '}') {
      throw errorAt(
        source,
        index,
        "unexpected '}': it closes no reference",
        () => `unexpected '}' at column ${columnOf(source, index)}`,
      );
    }
    if (source.startsWith(REFERENCE_VARIABLE_PREFIX, index) && !isNameChar(source[index - 1])) {
      const problem = `names starting with '${REFERENCE_VARIABLE_PREFIX}' are reserved`;
      throw errorAt(source, index, problem, () => `${problem} (column ${columnOf(source, index)})`);
    }
    text += char;
    index++;
  }
  return { text, slots };
}
