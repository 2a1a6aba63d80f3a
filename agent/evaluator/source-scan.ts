// Lexing helpers for the passes that run before expr-eval parses an expression (reference
// substitution, tuples). They must see string literals and comments exactly as expr-eval's
// tokenizer will, or a `{`, `(` or `,` inside a string would be rewritten.

/**
 * Index just past the string literal or `/* ... *\/` comment that starts at `index`, or undefined
 * when none starts there. An unterminated one runs to the end of the text, as in expr-eval (which
 * then reports the open string with its position).
 */
export function skipLiteral(text: string, index: number): number | undefined {
  if (isQuote(text[index])) return stringLiteralEnd(text, index);
  if (text[index] === '/' && text[index + 1] === '*') {
    const close = text.indexOf('*/', index + 2);
    return close < 0 ? text.length : close + 2;
  }
  return undefined;
}

/**
 * Index just past the string literal whose opening quote is at `start` (the text's length when it
 * is not terminated). Mirrors expr-eval: the literal ends at the next same quote that is not directly
 * preceded by a backslash (so 'a\\' does not end there either, in both places).
 */
function stringLiteralEnd(text: string, start: number): number {
  const quote = text[start];
  let index = text.indexOf(quote as string, start + 1);
  while (index >= 0) {
    if (text[index - 1] !== '\\') return index + 1;
    index = text.indexOf(quote as string, index + 1);
  }
  return text.length;
}

export function isQuote(char: string | undefined): boolean {
  return char === "'" || char === '"';
}

/** A character that can continue a name: expr-eval counts any cased letter, digits, `_` and `$`. */
export function isNameChar(char: string | undefined): boolean {
  if (char === undefined) return false;
  return (
    char.toUpperCase() !== char.toLowerCase() || (char >= '0' && char <= '9') || char === '_' || char === '$'
  );
}

/** 1-based column of `index` on its line, for messages. */
export function columnOf(text: string, index: number): number {
  return index - text.lastIndexOf('\n', index - 1);
}
