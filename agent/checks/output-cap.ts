// How much of a check's output is kept, whatever its type printed: the plugin guidelines' 4 KiB for
// the first line and 4 KiB for the long output, each cut at a character boundary and marked, so a
// check that prints megabytes costs no more in memory, history and API answers than one that does not.
// A result's items (one per instance, member, worker) are bounded too: at most MAX_ITEMS, one
// line each.
import { cutToBytes } from '../shared/format.js';
import type { CheckItem, CheckResult } from './check-type.js';

export const MAX_OUTPUT_BYTES = 4096;
export const MAX_LONG_OUTPUT_BYTES = 4096;
/** Items kept of a result (an EC2 fleet's instances): the first ones, in the order the check gave. */
export const MAX_ITEMS = 1000;
/** Bytes kept of an item's name and of its output. */
export const MAX_ITEM_NAME_BYTES = 256;
export const MAX_ITEM_OUTPUT_BYTES = 512;

/** Appended where output was cut: an operator knows there was more. */
export const OUTPUT_CUT_MARKER = '... (output cut at 4 KiB)';

/** `text` within `maxBytes`, the marker included when it had to be cut. */
function capped(text: string, maxBytes: number): string {
  const cut = cutToBytes(text, maxBytes);
  return cut === text
    ? text
    : cutToBytes(text, maxBytes - Buffer.byteLength(OUTPUT_CUT_MARKER)) + OUTPUT_CUT_MARKER;
}

/**
 * The result with its output as the guidelines want it: the first line alone in `output` (lines
 * after it go to the long output), each part capped.
 */
export function capOutput(result: CheckResult): CheckResult {
  const newline = result.output.indexOf('\n');
  const firstLine = newline === -1 ? result.output : result.output.slice(0, newline);
  const moved = newline === -1 ? undefined : result.output.slice(newline + 1);
  const longOutput = [moved, result.longOutput].filter((part) => part).join('\n');
  const { longOutput: _given, items, ...rest } = result;
  return {
    ...rest,
    output: capped(firstLine.replace(/\r$/, ''), MAX_OUTPUT_BYTES),
    ...(longOutput ? { longOutput: capped(longOutput, MAX_LONG_OUTPUT_BYTES) } : {}),
    ...(items ? { items: items.slice(0, MAX_ITEMS).map(cappedItem) } : {}),
  };
}

/** An item with one line of output, its texts capped. */
function cappedItem(item: CheckItem): CheckItem {
  return {
    name: cutToBytes(item.name, MAX_ITEM_NAME_BYTES),
    ...(item.id !== undefined ? { id: cutToBytes(item.id, MAX_ITEM_NAME_BYTES) } : {}),
    state: item.state,
    output: cutToBytes(item.output.split('\n', 1)[0]!.replace(/\r$/, ''), MAX_ITEM_OUTPUT_BYTES),
  };
}
