// Paths into a JSON answer, `.a.b[0].c` (keys and array indexes), as the http check's conditions
// (`[BODY].a.b[0]`) and the json_status check's `jsonpath` (`$.checks.db`) write them.

export type JsonPath = Array<string | number>;

/**
 * `.a.b[0]` into ['a', 'b', 0]; a leading key may go without its dot (`a.b`). Undefined when the
 * text is not such a path (the caller says where it came from).
 */
export function parseJsonPath(text: string): JsonPath | undefined {
  const steps: JsonPath = [];
  const step = /\.?([^.[\]]+)|\[(\d+)\]/y;
  for (let at = 0; at < text.length;) {
    step.lastIndex = at;
    const match = step.exec(text);
    // A key without its dot only at the start: `a[0]b` is not a path.
    if (!match || (at > 0 && match[1] !== undefined && text[at] !== '.')) return undefined;
    steps.push(match[1] !== undefined ? match[1] : Number(match[2]));
    at = step.lastIndex;
  }
  return steps;
}

/** The value at `path` in `root`, or undefined when any step is missing. */
export function valueAtPath(root: unknown, path: JsonPath): unknown {
  let value = root;
  for (const step of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string | number, unknown>)[step];
  }
  return value;
}
