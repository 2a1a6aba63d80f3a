// Tags of a series name, parsed the way graphite-web's tag database does it: carbon's
// `a.b;k=v;k2=v2` and OpenMetrics' `a.b{k="v",k2="v2"}`, with `name` always the bare metric. The
// render API's JSON carries them, and Grafana's tag-aware editors read them.

/** Names that look like a function call (`sumSeries(a.*)`) are not parsed: graphite keeps `{name}`. */
const FUNCTION_LIKE = /^[a-z]+[(][\s\S]+[)]$/i;

/** The tags of a series called `name`; `{ name }` when the name has none or cannot be parsed. */
export function parseSeriesTags(name: string): Record<string, string> {
  if (FUNCTION_LIKE.test(name)) return { name };
  return parseTaggedPath(name) ?? { name };
}

/** The tags of a tagged path, or undefined when it is malformed (graphite raises, then falls back). */
export function parseTaggedPath(path: string): Record<string, string> | undefined {
  if (path.endsWith('"}') && path.includes('{')) return parseOpenMetrics(path);
  return parseCarbon(path);
}

/** `metric;tag=value;...`: every segment after the first must be `key=value` with a key. */
function parseCarbon(path: string): Record<string, string> | undefined {
  const segments = path.split(';');
  const metric = segments[0] ?? '';
  if (!metric) return undefined;
  const tags: Record<string, string> = {};
  for (const segment of segments.slice(1)) {
    const equals = segment.indexOf('=');
    if (equals <= 0) return undefined;
    tags[segment.slice(0, equals)] = segment.slice(equals + 1);
  }
  // Set last, as graphite does: a `;name=x` segment cannot rename the metric.
  tags.name = metric;
  return tags;
}

/** `metric{tag="value",...}` with `\"` and `\\` escapes inside values. */
function parseOpenMetrics(path: string): Record<string, string> | undefined {
  const open = path.indexOf('{');
  const metric = path.slice(0, open);
  if (!metric) return undefined;
  let rawTags = path.slice(open + 1, -1);
  const tags: Record<string, string> = {};
  const segment = /^([^=]+)="((?:\\["\\]|[^"\\])+)"(?::?,|$)/;
  while (rawTags.length > 0) {
    const match = segment.exec(rawTags);
    if (!match) return undefined;
    const key = match[1] ?? '';
    tags[key] = (match[2] ?? '').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    rawTags = rawTags.slice(match[0].length);
  }
  tags.name = metric;
  return tags;
}
