// Configuration errors: always one line an operator can act on: file:line: key: what was expected.

export interface ConfigLocation {
  file: string;
  line?: number;
  key?: string;
}

export class ConfigError extends Error {
  constructor(
    readonly location: ConfigLocation,
    readonly problem: string,
  ) {
    super(formatConfigMessage(location, problem));
    this.name = 'ConfigError';
  }
}

export function formatConfigMessage(location: ConfigLocation, problem: string): string {
  const where = location.line !== undefined ? `${location.file}:${location.line}` : location.file;
  return location.key ? `${where}: ${location.key}: ${problem}` : `${where}: ${problem}`;
}

/** `a.b[0].c` from ['a', 'b', 0, 'c'], the way operators write keys. */
export function formatKeyPath(path: ReadonlyArray<string | number>): string {
  let key = '';
  for (const part of path) {
    if (typeof part === 'number') key += `[${part}]`;
    else key += key ? `.${part}` : part;
  }
  return key;
}

/**
 * Keys a message may quote: they look like setting names (letters, digits, `_`, `-`, `.`, at most
 * 64 characters). Anything else read as a key (a line of /etc/shadow behind a symbolic link is one
 * key to YAML: `root:$y$...:19000:0:99999:7::`) is not quoted: messages say "a key" and give its line.
 */
const PRINTABLE_KEY = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

/** `key` when a message may quote it (see PRINTABLE_KEY), else undefined. */
export function printableKey(key: string): string | undefined {
  return PRINTABLE_KEY.test(key) ? key : undefined;
}
