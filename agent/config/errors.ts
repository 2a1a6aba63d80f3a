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
