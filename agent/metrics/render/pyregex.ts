// Python regular expressions as aliasSub, exclude and grep take them (re.search / re.sub), run
// with JavaScript's RegExp: the common syntax is shared, Python-only spellings are translated
// ((?P<name>…), (?P=name), \A, \Z, leading (?i)/(?m)/(?s)), and the replacement template follows
// Python's rules (\1, \g<1>, \g<name>, \n, \\). These patterns come from API users and run on the
// event loop, where a catastrophically backtracking pattern would stall the agent, so patterns are
// bounded in length and ones that quantify a group holding a quantifier or an alternation
// (`(a+)+`, `(a|aa)*`, the shapes that backtrack exponentially) are refused.

/** Longest pattern accepted. */
export const MAX_PATTERN_CHARS = 512;

/** Compiles a Python pattern for JavaScript; throws an Error naming the pattern when refused. */
export function compilePythonRegex(pattern: string, global = false): RegExp {
  if (pattern.length > MAX_PATTERN_CHARS) {
    throw new Error(
      `regular expression of ${pattern.length} characters refused (at most ${MAX_PATTERN_CHARS})`,
    );
  }
  let source = pattern;
  let flags = global ? 'g' : '';
  const inline = /^\(\?([imsx]+)\)/.exec(source);
  if (inline) {
    const letters = inline[1] ?? '';
    if (letters.includes('x'))
      throw new Error(`regular expression ${JSON.stringify(pattern)}: verbose mode (?x) is not supported`);
    for (const letter of letters) if (!flags.includes(letter)) flags += letter;
    source = source.slice(inline[0].length);
  }
  source = translate(source);
  refuseExponentialShapes(source, pattern);
  try {
    return new RegExp(source, flags);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`invalid regular expression ${JSON.stringify(pattern)}: ${reason}`, { cause: error });
  }
}

/** Python's `re.search(pattern, text) is not None`. */
export function pythonSearch(regex: RegExp, text: string): boolean {
  regex.lastIndex = 0;
  return regex.test(text);
}

/** Python's `re.sub(pattern, replacement, text)`: every non-overlapping match replaced. */
export function pythonSub(pattern: string, replacement: string, text: string): string {
  const regex = compilePythonRegex(pattern, true);
  const template = parseTemplate(replacement, pattern);
  return text.replace(regex, (...matchArgs: unknown[]) => {
    const groups = extractGroups(matchArgs);
    return template
      .map((piece) => {
        if (typeof piece === 'string') return piece;
        const value =
          typeof piece.group === 'number' ? groups.numbered[piece.group] : groups.named?.[piece.group];
        // An unmatched group is '' (Python 3.5+).
        return value ?? '';
      })
      .join('');
  });
}

type TemplatePiece = string | { group: number | string };

/** Python's replacement template: literal text and group references. */
function parseTemplate(replacement: string, pattern: string): TemplatePiece[] {
  const pieces: TemplatePiece[] = [];
  let literal = '';
  const flush = (): void => {
    if (literal) pieces.push(literal);
    literal = '';
  };
  for (let i = 0; i < replacement.length; i++) {
    const char = replacement[i] ?? '';
    if (char !== '\\') {
      literal += char;
      continue;
    }
    const next = replacement[i + 1];
    if (next === undefined)
      throw new Error(`bad escape (end of replacement) in ${JSON.stringify(replacement)}`);
    if (next === 'g') {
      const match = /^<([^>]*)>/.exec(replacement.slice(i + 2));
      if (!match) throw new Error(`missing group name after \\g in ${JSON.stringify(replacement)}`);
      const name = match[1] ?? '';
      flush();
      pieces.push({ group: /^\d+$/.test(name) ? Number(name) : name });
      i += 1 + match[0].length;
      continue;
    }
    if (/\d/.test(next)) {
      // Python reads up to two digits as a group number (\10 is group 10).
      const digits = /^\d{1,2}/.exec(replacement.slice(i + 1))?.[0] ?? next;
      flush();
      pieces.push({ group: Number(digits) });
      i += digits.length;
      continue;
    }
    const escapes: Record<string, string> = {
      n: '\n',
      t: '\t',
      r: '\r',
      f: '\f',
      v: '\v',
      a: '\x07',
      b: '\b',
      '\\': '\\',
    };
    const escaped = escapes[next];
    if (escaped !== undefined) literal += escaped;
    else if (/[A-Za-z]/.test(next)) {
      throw new Error(
        `bad escape \\${next} in replacement ${JSON.stringify(replacement)} (pattern ${JSON.stringify(pattern)})`,
      );
    } else literal += `\\${next}`;
    i++;
  }
  flush();
  return pieces;
}

function extractGroups(matchArgs: unknown[]): {
  numbered: (string | undefined)[];
  named?: Record<string, string | undefined>;
} {
  // replace() passes: match, p1..pn, offset, string[, groups].
  const last = matchArgs[matchArgs.length - 1];
  const hasNamed = typeof last === 'object' && last !== null;
  const end = hasNamed ? matchArgs.length - 3 : matchArgs.length - 2;
  const numbered = matchArgs.slice(0, end).map((value) => (typeof value === 'string' ? value : undefined));
  return hasNamed ? { numbered, named: last as Record<string, string | undefined> } : { numbered };
}

/** Python-only spellings turned into JavaScript ones, outside character classes. */
function translate(source: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const char = source[i] ?? '';
    if (char === '\\') {
      const next = source[i + 1] ?? '';
      if (!inClass && next === 'A') out += '^';
      else if (!inClass && next === 'Z') out += '$(?![\\s\\S])';
      else out += char + next;
      i++;
      continue;
    }
    if (inClass) {
      if (char === ']') inClass = false;
      out += char;
      continue;
    }
    if (char === '[') {
      inClass = true;
      out += char;
      // A ']' first in the class (after an optional '^') is a literal in Python.
      if (source[i + 1] === '^') {
        out += '^';
        i++;
      }
      if (source[i + 1] === ']') {
        out += '\\]';
        i++;
      }
      continue;
    }
    if (source.startsWith('(?P<', i)) {
      out += '(?<';
      i += 3;
      continue;
    }
    const backReference = /^\(\?P=(\w+)\)/.exec(source.slice(i));
    if (backReference) {
      out += `\\k<${backReference[1] ?? ''}>`;
      i += backReference[0].length - 1;
      continue;
    }
    out += char;
  }
  return out;
}

/** Refuses a quantified group that itself holds a quantifier or an alternation. */
function refuseExponentialShapes(source: string, pattern: string): void {
  // For each open group: whether it holds a quantifier or '|' so far.
  const stack: Array<{ risky: boolean }> = [];
  let inClass = false;
  let lastClosedRisky = false;
  for (let i = 0; i < source.length; i++) {
    const char = source[i] ?? '';
    if (char === '\\') {
      i++;
      lastClosedRisky = false;
      continue;
    }
    if (inClass) {
      if (char === ']') inClass = false;
      continue;
    }
    if (char === '[') {
      inClass = true;
      lastClosedRisky = false;
      continue;
    }
    if (char === '(') {
      stack.push({ risky: false });
      lastClosedRisky = false;
      continue;
    }
    if (char === ')') {
      const group = stack.pop();
      lastClosedRisky = group?.risky ?? false;
      // What a group holds, its parent holds too.
      const parent = stack[stack.length - 1];
      if (parent && lastClosedRisky) parent.risky = true;
      continue;
    }
    const isQuantifier =
      char === '*' ||
      char === '+' ||
      char === '?' ||
      (char === '{' && /^\{\d+(,\d*)?\}/.test(source.slice(i)));
    if (isQuantifier) {
      // `(?`, `*?` and `+?` (lazy) are not quantifiers of their own.
      const previous = source[i - 1];
      const lazyMark =
        char === '?' &&
        (previous === '(' || previous === '*' || previous === '+' || previous === '?' || previous === '}');
      if (!lazyMark) {
        if (lastClosedRisky && char !== '?') {
          throw new Error(
            `regular expression ${JSON.stringify(pattern)} refused: a repeated group must not itself repeat or alternate (it could backtrack for ages)`,
          );
        }
        const current = stack[stack.length - 1];
        if (current) current.risky = true;
      }
      lastClosedRisky = false;
      continue;
    }
    if (char === '|') {
      const current = stack[stack.length - 1];
      if (current) current.risky = true;
    }
    lastClosedRisky = false;
  }
}
