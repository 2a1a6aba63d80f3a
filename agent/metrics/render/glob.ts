// Graphite path globs, for the metrics finder and the render targets: a pattern is matched node by
// node (the dot-separated parts), a path matches when it has as many nodes and each matches. Per
// node, as graphite-web's finders do (brace expansion, then Python's fnmatch):
//   *       any run of characters within the node (never a dot)
//   ?       one character
//   [a-z0]  one of a set, with ranges; [!a-z] one not in it ([^x] is the set {^, x}, as in fnmatch)
//   {a,b}   alternatives, nestable ({a,{b,c}d}); one without a comma just loses its braces
// Matching is case-sensitive. An unclosed `[` or `{` is literal.
// Matching runs a small state machine (no RegExp), linear in node length times pattern length:
// patterns come from API users and a backtracking regexp over `*a*a*a*…` could run for ages.

/** Longest pattern accepted. */
/** A glob refused (too long, too many alternatives, malformed). */
export class GlobError extends Error {
  override readonly name = 'GlobError';
}

export const MAX_GLOB_CHARS = 1024;
/** Most alternatives brace expansion may produce, summed over the pattern's nodes. */
export const MAX_GLOB_ALTERNATIVES = 64;

/** Tests one node (no dots) against a compiled node pattern. */
export type NodeMatcher = (node: string) => boolean;

type Token =
  | { kind: 'literal'; char: string }
  | { kind: 'one' }
  | { kind: 'any' }
  | { kind: 'set'; negated: boolean; chars: string[]; ranges: Array<[string, string]> };

/** Whether a pattern has any glob syntax (a plain path needs no matching, only a lookup). */
export function isGlob(pattern: string): boolean {
  return /[*?[{]/.test(pattern);
}

/** A predicate telling whether a dotted path matches `pattern` (same node count, every node matching). */
export function compileGlob(pattern: string): (path: string) => boolean {
  const nodes = compileGlobNodes(pattern);
  return (path) => matchNodes(nodes, path.split('.'));
}

/** The per-node matchers of a dotted pattern; throws on patterns over the bounds. */
export function compileGlobNodes(pattern: string): NodeMatcher[] {
  if (pattern.length > MAX_GLOB_CHARS) {
    throw new GlobError(`glob pattern of ${pattern.length} characters refused (at most ${MAX_GLOB_CHARS})`);
  }
  const budget = { remaining: MAX_GLOB_ALTERNATIVES };
  return pattern.split('.').map((node) => compileNodeGlobWithBudget(node, budget, pattern));
}

/** A matcher for one node pattern (no dots). */
export function compileNodeGlob(nodePattern: string): NodeMatcher {
  if (nodePattern.length > MAX_GLOB_CHARS) {
    throw new GlobError(
      `glob pattern of ${nodePattern.length} characters refused (at most ${MAX_GLOB_CHARS})`,
    );
  }
  return compileNodeGlobWithBudget(nodePattern, { remaining: MAX_GLOB_ALTERNATIVES }, nodePattern);
}

/** Whether `nodes` (a path split on dots) match the compiled pattern nodes one for one. */
export function matchNodes(patternNodes: readonly NodeMatcher[], nodes: readonly string[]): boolean {
  if (patternNodes.length !== nodes.length) return false;
  return patternNodes.every((matcher, index) => matcher(nodes[index] ?? ''));
}

/**
 * Brace expansion of one node as graphite's finders do it: innermost-last group first, split on
 * commas, deduplicated. Throws when it would yield more than `limit` alternatives.
 */
export function expandBraces(node: string, limit: number = MAX_GLOB_ALTERNATIVES): string[] {
  const budget = { remaining: limit };
  return expandWithBudget(node, budget, node);
}

function compileNodeGlobWithBudget(node: string, budget: { remaining: number }, whole: string): NodeMatcher {
  const variants = expandWithBudget(node, budget, whole).map(tokenize);
  if (variants.length === 1) {
    const only = variants[0] ?? [];
    return (text) => matchTokens(only, text);
  }
  return (text) => variants.some((tokens) => matchTokens(tokens, text));
}

function expandWithBudget(node: string, budget: { remaining: number }, whole: string): string[] {
  const done = new Set<string>();
  const pending = [node];
  while (pending.length > 0) {
    const current = pending.pop() ?? '';
    const group = innermostBraces(current);
    if (!group) {
      done.add(current);
      continue;
    }
    const [open, close] = group;
    const inner = current.slice(open + 1, close);
    const head = current.slice(0, open);
    const tail = current.slice(close + 1);
    const choices = inner.includes(',') ? inner.split(',') : [inner];
    if (pending.length + done.size + choices.length > budget.remaining) {
      throw new GlobError(
        `glob pattern ${JSON.stringify(whole.slice(0, 80))} expands to more than ${MAX_GLOB_ALTERNATIVES} alternatives`,
      );
    }
    // Pushed in reverse so that alternatives come out in the order written.
    for (let i = choices.length - 1; i >= 0; i--) pending.push(head + (choices[i] ?? '') + tail);
  }
  budget.remaining -= done.size;
  if (budget.remaining < 0) {
    throw new GlobError(
      `glob pattern ${JSON.stringify(whole.slice(0, 80))} expands to more than ${MAX_GLOB_ALTERNATIVES} alternatives`,
    );
  }
  return [...done];
}

/** The last `{` that has a `}` after it, and the first `}` after that one. */
function innermostBraces(text: string): [number, number] | undefined {
  for (let open = text.lastIndexOf('{'); open >= 0; open = text.lastIndexOf('{', open - 1)) {
    const close = text.indexOf('}', open + 1);
    if (close > open) return [open, close];
    if (open === 0) break;
  }
  return undefined;
}

/** fnmatch's reading of a pattern: `*`, `?`, `[...]` sets; everything else literal. */
function tokenize(pattern: string): Token[] {
  const chars = Array.from(pattern);
  const tokens: Token[] = [];
  for (let i = 0; i < chars.length; i++) {
    const char = chars[i] ?? '';
    if (char === '*') {
      // Consecutive stars are one star.
      if (tokens[tokens.length - 1]?.kind !== 'any') tokens.push({ kind: 'any' });
    } else if (char === '?') {
      tokens.push({ kind: 'one' });
    } else if (char === '[') {
      const parsed = parseSet(chars, i);
      if (parsed) {
        tokens.push(parsed.token);
        i = parsed.end;
      } else {
        tokens.push({ kind: 'literal', char });
      }
    } else {
      tokens.push({ kind: 'literal', char });
    }
  }
  return tokens;
}

/** A `[...]` set starting at `open`, or undefined when it never closes (then `[` is literal). */
function parseSet(chars: string[], open: number): { token: Token; end: number } | undefined {
  let j = open + 1;
  if (chars[j] === '!') j++;
  // A `]` right after `[` or `[!` belongs to the set.
  if (chars[j] === ']') j++;
  while (j < chars.length && chars[j] !== ']') j++;
  if (j >= chars.length) return undefined;
  let body = chars.slice(open + 1, j);
  const negated = body[0] === '!';
  if (negated) body = body.slice(1);
  const token: Token = { kind: 'set', negated, chars: [], ranges: [] };
  for (let k = 0; k < body.length; k++) {
    const first = body[k] ?? '';
    if (body[k + 1] === '-' && k + 2 < body.length) {
      const last = body[k + 2] ?? '';
      // A reversed range matches nothing (fnmatch drops it).
      if (first <= last) token.ranges.push([first, last]);
      k += 2;
    } else {
      token.chars.push(first);
    }
  }
  return { token, end: j };
}

function matchesOne(token: Token, char: string): boolean {
  switch (token.kind) {
    case 'literal':
      return token.char === char;
    case 'one':
      return true;
    case 'any':
      return true;
    case 'set': {
      const inSet =
        token.chars.includes(char) || token.ranges.some(([low, high]) => char >= low && char <= high);
      return inSet !== token.negated;
    }
  }
}

/** Wildcard matching with single-star backtracking: O(text × pattern), never exponential. */
function matchTokens(tokens: readonly Token[], text: string): boolean {
  const chars = Array.from(text);
  let t = 0;
  let c = 0;
  let starToken = -1;
  let starChar = 0;
  while (c < chars.length) {
    const token = tokens[t];
    if (token && token.kind !== 'any' && matchesOne(token, chars[c] ?? '')) {
      t++;
      c++;
    } else if (token && token.kind === 'any') {
      starToken = t;
      starChar = c;
      t++;
    } else if (starToken >= 0) {
      t = starToken + 1;
      starChar++;
      c = starChar;
    } else {
      return false;
    }
  }
  while (tokens[t]?.kind === 'any') t++;
  return t === tokens.length;
}
