// Performance data as the Monitoring Plugins guidelines write it (section "Performance data"):
// space-separated items `'label'=value[UOM];[warn];[crit];[min];[max]`, quotes around the label
// only when it needs them ('' inside is one quote), trailing empty fields dropped, warn and crit in
// the guidelines' range format (10, 10:, ~:10, 10:20, @10:20), kept as written. A plugin's
// perfdata is advice: an item that does not read is skipped, and never fails the check.
import type { PerfDatum } from '../check-type.js';

/** The guidelines' units, and GB, which they mention and plugins print (check_disk -u GB). */
export const PERFDATA_UNITS: ReadonlySet<string> = new Set([
  '',
  's',
  'ms',
  'us',
  '%',
  'B',
  'KB',
  'MB',
  'GB',
  'TB',
  'c',
]);

const NUMBER = String.raw`[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?`;
const VALUE_WITH_UNIT = new RegExp(`^(${NUMBER})([A-Za-z%]*)$`);
const PLAIN_NUMBER = new RegExp(`^${NUMBER}$`);
/** start:end, either side optional, `~` for minus infinity, `@` for "alert inside". */
const RANGE = new RegExp(`^@?(?:(?:~|${NUMBER})?:)?(?:${NUMBER})?$`);

/** The items of `text` that read; the others are skipped. */
export function parsePerfdata(text: string): PerfDatum[] {
  const data: PerfDatum[] = [];
  let position = 0;
  while (position < text.length) {
    if (/\s/.test(text[position]!)) {
      position++;
      continue;
    }
    const label = readLabel(text, position);
    position = label.end;
    const fieldsEnd = nextBlank(text, position);
    if (label.text !== undefined && text[position] === '=') {
      const datum = parseItem(label.text, text.slice(position + 1, fieldsEnd));
      if (datum) data.push(datum);
    }
    position = fieldsEnd;
  }
  return data;
}

/** The label at `start` (quoted or not) and where it ends; text undefined when it does not read. */
function readLabel(text: string, start: number): { text?: string; end: number } {
  if (text[start] !== "'") {
    let end = start;
    while (end < text.length && text[end] !== '=' && !/\s/.test(text[end]!)) end++;
    return { text: end > start ? text.slice(start, end) : undefined, end };
  }
  let label = '';
  let position = start + 1;
  while (position < text.length) {
    if (text[position] === "'") {
      if (text[position + 1] !== "'") return { text: label || undefined, end: position + 1 };
      label += "'";
      position += 2;
    } else label += text[position++];
  }
  // An unclosed quote: nothing after it reads.
  return { end: text.length };
}

function nextBlank(text: string, start: number): number {
  let end = start;
  while (end < text.length && !/\s/.test(text[end]!)) end++;
  return end;
}

/** One item's `value[UOM];warn;crit;min;max` under `label`, or undefined when it does not read. */
export function parseItem(label: string, fields: string): PerfDatum | undefined {
  const [valueField = '', warn = '', crit = '', min = '', max = '', ...extra] = fields.split(';');
  if (extra.length > 0) return undefined;
  // `U` (the value could not be determined) has no number to keep: skipped like a bad item.
  const valueMatch = VALUE_WITH_UNIT.exec(valueField);
  if (!valueMatch || !PERFDATA_UNITS.has(valueMatch[2]!)) return undefined;
  if (!isRange(warn) || !isRange(crit) || !isNumberOrEmpty(min) || !isNumberOrEmpty(max)) return undefined;
  const datum: PerfDatum = { label, value: Number(valueMatch[1]), uom: valueMatch[2]! };
  if (warn) datum.warn = warn;
  if (crit) datum.crit = crit;
  if (min) datum.min = Number(min);
  if (max) datum.max = Number(max);
  return datum;
}

function isRange(field: string): boolean {
  return field === '' || (RANGE.test(field) && /\d/.test(field));
}

function isNumberOrEmpty(field: string): boolean {
  return field === '' || PLAIN_NUMBER.test(field);
}
