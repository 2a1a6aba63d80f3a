// What a plugin's run means, by the plugin guidelines: the exit code is the state (0 OK, 1
// WARNING, 2 CRITICAL, 3 UNKNOWN; anything else, or a signal, is UNKNOWN with the reason), the
// first line of stdout is the output, the next lines the long output, and perfdata follows a `|`
// on the first line and, in the long output, a `|` after which every line is perfdata:
//
//   TEXT OUTPUT | OPTIONAL PERFDATA
//   LONG TEXT LINE 1
//   LONG TEXT LINE N | PERFDATA LINE 2
//   PERFDATA LINE 3
import type { CheckResult, CheckState } from '../check-type.js';
import { parsePerfdata } from './perfdata.js';
import type { CappedText, PluginOutcome } from './run-plugin.js';
import { formatSeconds } from '../../shared/format.js';

const STATE_OF_EXIT_CODE: readonly CheckState[] = ['ok', 'warning', 'critical', 'unknown'];

/** Splits a plugin's stdout into output, long output and perfdata. */
export function parsePluginText(text: string): Omit<CheckResult, 'state'> {
  const [first = '', ...rest] = lines(text);
  const [output, firstPerfdata = ''] = splitAtBar(first);
  const longLines: string[] = [];
  const perfdataLines = [firstPerfdata];
  let inPerfdata = false;
  for (const line of rest) {
    if (inPerfdata) perfdataLines.push(line);
    else {
      const [textPart, perfdataPart] = splitAtBar(line);
      if (perfdataPart === undefined) longLines.push(line);
      else {
        if (textPart) longLines.push(textPart);
        perfdataLines.push(perfdataPart);
        inPerfdata = true;
      }
    }
  }
  const longOutput = longLines.join('\n').trimEnd();
  return {
    output,
    ...(longOutput ? { longOutput } : {}),
    perfdata: parsePerfdata(perfdataLines.join('\n')),
  };
}

/** Text and perfdata on either side of the first `|` (the text trimmed), or the line alone. */
function splitAtBar(line: string): [string, string?] {
  const bar = line.indexOf('|');
  return bar < 0 ? [line.trim()] : [line.slice(0, bar).trim(), line.slice(bar + 1)];
}

function lines(text: string): string[] {
  const trimmed = text.replace(/\r\n?/g, '\n').replace(/^\n+/, '').trimEnd();
  return trimmed ? trimmed.split('\n') : [];
}

/** The check result of one run of `program` (what the operator knows it by, for messages). */
export function pluginResult(outcome: PluginOutcome, program: string, timeoutMs: number): CheckResult {
  if (outcome.kind === 'not-started') return failure(`cannot run ${program}: ${outcome.reason}`);
  if (outcome.kind === 'lost') return failure(`lost track of ${program} (it was killed): ${outcome.reason}`);
  const shown = shownText(outcome);
  if (outcome.kind === 'stopped') {
    const why =
      outcome.why === 'timeout'
        ? `timed out after ${formatSeconds(timeoutMs)}`
        : `stopped before it finished (${outcome.reason ?? 'aborted'})`;
    // What it printed so far is kept whole as long output: there is no result to read in it.
    const printed = lines(shown.text).join('\n');
    return failure(`${program} ${why}: it and its children were killed`, printed, shown.marker);
  }
  const parsed = shown.fromStdout ? parsePluginText(shown.text) : { ...splitLines(shown.text), perfdata: [] };
  const state = outcome.kind === 'exited' ? STATE_OF_EXIT_CODE[outcome.code] : undefined;
  if (state === undefined) {
    const reason =
      outcome.kind === 'signaled' ? `killed by ${outcome.signal}` : `exited with code ${outcome.code}`;
    return failure(parsed.output ? `${reason}: ${parsed.output}` : reason, parsed.longOutput, shown.marker);
  }
  return {
    state,
    output: parsed.output || '(no output)',
    ...withMarker(parsed.longOutput, shown.marker),
    perfdata: parsed.perfdata,
  };
}

/**
 * What to show of a run: stdout, or stderr when stdout is empty (a plugin that failed to start its
 * work often says why there only), with a marker when it was cut.
 */
function shownText(streams: { stdout: CappedText; stderr: CappedText }): {
  text: string;
  fromStdout: boolean;
  marker?: string;
} {
  const fromStdout = streams.stdout.text.trim() !== '' || streams.stderr.text.trim() === '';
  const stream = fromStdout ? streams.stdout : streams.stderr;
  if (stream.droppedBytes === 0) return { text: stream.text, fromStdout };
  const marker = `... (${fromStdout ? 'output' : 'stderr'} cut at ${stream.limitBytes / 1024} KiB)`;
  return { text: stream.text, fromStdout, marker };
}

function splitLines(text: string): { output: string; longOutput?: string } {
  const [first = '', ...rest] = lines(text);
  const longOutput = rest.join('\n');
  return { output: first.trim(), ...(longOutput ? { longOutput } : {}) };
}

/** An UNKNOWN result: what went wrong, with what the plugin said as long output. */
function failure(output: string, longOutput?: string, marker?: string): CheckResult {
  return { state: 'unknown', output, ...withMarker(longOutput, marker), perfdata: [] };
}

function withMarker(longOutput: string | undefined, marker: string | undefined): { longOutput?: string } {
  const joined = [longOutput, marker].filter((part) => part).join('\n');
  return joined ? { longOutput: joined } : {};
}
