// File functions: what detectors mostly ask ("is this a CentOS?", "is redis configured here?").
// Paths are resolved under the host root (host-files.ts); a missing file, or anything that is not
// a regular file (a FIFO, a socket, a device), answers false; a protected one (the agent's data
// and config dirs, a process's environment) is refused with an ExpressionError (host/).
import { messageOf } from '../../shared/errors.js';
import { ExpressionError, notAvailable } from '../errors.js';
import { pythonRepr } from '../python-format.js';
import { MISSING, valueAt } from '../reference-resolve.js';
import type { EvaluatedValue } from '../values.js';
import type { Arguments } from './arguments.js';
import { hostPathArgument } from './host-files.js';
import type { CallContext, EvaluatorFunction } from './types.js';

/**
 * grep(string, path) and grep_file(string, path, regexp=False): whether a line of the file contains
 * the string, case-insensitive as opsbro's grep_file did, or matches it as a regular expression.
 */
async function grepLines(args: Arguments, { providers, readFile, regexps }: CallContext): Promise<boolean> {
  const pattern = args.string(0);
  const file = hostPathArgument(args, 1, providers.paths);
  // grep has no third argument: plain text.
  const isRegexp = args.boolean(2, false);
  if (isRegexp) {
    try {
      new RegExp(pattern, 'i');
    } catch (error) {
      throw args.error(0, `is not a valid regular expression: ${messageOf(error)}`);
    }
  }
  const text = await readFile(file);
  if (text === undefined) return false;
  if (isRegexp) {
    return regexps.match(pattern, text, `grep_file(${pythonRepr(pattern)}, ...)`);
  }
  const lowered = pattern.toLowerCase();
  return text.split('\n').some((line) => line.toLowerCase().includes(lowered));
}

export const FILE_FUNCTIONS: readonly EvaluatorFunction[] = [
  {
    kind: 'io',
    name: 'grep',
    signature: 'grep(string, path)',
    doc: 'True when a line of the file contains the string (case-insensitive); False when the file is missing.',
    run: grepLines,
  },
  {
    kind: 'io',
    name: 'grep_file',
    signature: 'grep_file(string, path, regexp=False)',
    doc: 'grep(string, path); with regexp=True the string is a case-insensitive regular expression matched per line.',
    run: grepLines,
  },
  {
    kind: 'io',
    name: 'file_exists',
    signature: 'file_exists(path)',
    doc: 'True when the path exists (a file, a directory, or a link to one).',
    async run(args, { providers, host }) {
      return (await host.stat(hostPathArgument(args, 0, providers.paths), true)) !== undefined;
    },
  },
  {
    kind: 'io',
    name: 'is_dir',
    signature: 'is_dir(path)',
    doc: 'True when the path is a directory (or a link to one).',
    async run(args, { providers, host }) {
      return (await host.stat(hostPathArgument(args, 0, providers.paths), true))?.isDirectory() ?? false;
    },
  },
  {
    kind: 'io',
    name: 'is_link',
    signature: 'is_link(path)',
    doc: 'True when the path itself is a symbolic link.',
    async run(args, { providers, host }) {
      return (await host.stat(hostPathArgument(args, 0, providers.paths), false))?.isSymbolicLink() ?? false;
    },
  },
  {
    kind: 'io',
    name: 'parse_json_file',
    signature: 'parse_json_file(path, key_path, default=unknown)',
    doc: "The value at key_path ('a.b.0', dotted keys allowed) in a JSON file; default (or unknown) when missing.",
    async run(args, { providers, readFile }) {
      const file = hostPathArgument(args, 0, providers.paths);
      const keyPath = args.string(1);
      const label = `parse_json_file(${pythonRepr(args.string(0))}, ${pythonRepr(keyPath)})`;
      const missing = (): EvaluatedValue => {
        if (args.has(2)) return args.value(2);
        throw notAvailable(label);
      };
      const text = await readFile(file);
      if (text === undefined) return missing();
      let data: unknown;
      try {
        data = JSON.parse(text);
      } catch (error) {
        throw new ExpressionError(`${label}: the file is not valid JSON: ${messageOf(error)}`);
      }
      const value = valueAt(data, keyPath === '' ? [] : keyPath.split('.'), label);
      return value === MISSING ? missing() : value;
    },
  },
];
