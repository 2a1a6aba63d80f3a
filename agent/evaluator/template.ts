// Templates: plain text in which each `{reference}` / `{{reference}}` is replaced by its value as
// text (Python's str: True, 2.5, 'a'), e.g. a group name 'redis-{collector.redis.role}'. Braces
// that do not open a reference stay as they are.
import { ExpressionError } from './errors.js';
import { MAX_STRING_CHARS } from './limits.js';
import { pythonStr } from './python-format.js';
import { parseReferenceAt, type ReferenceSyntax } from './reference-syntax.js';
import type { EvaluatedValue } from './values.js';

export function renderTemplateText(
  template: string,
  valueOf: (reference: ReferenceSyntax) => EvaluatedValue,
): string {
  let output = '';
  let index = 0;
  while (index < template.length) {
    const brace = template.indexOf('{', index);
    if (brace < 0) {
      output += template.slice(index);
      break;
    }
    output += template.slice(index, brace);
    const reference = parseReferenceAt(template, brace);
    if (reference) {
      output += pythonStr(valueOf(reference));
      index = reference.end;
    } else {
      output += '{';
      index = brace + 1;
    }
    if (output.length > MAX_STRING_CHARS) {
      throw new ExpressionError(`template result is over the limit of ${MAX_STRING_CHARS} characters`);
    }
  }
  return output;
}
