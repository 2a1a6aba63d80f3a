// Reading one YAML configuration file: parse with positions kept, substitute ${ENV}, and
// answer "which line holds this key?" for error messages.
import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parse as parseYamlScalar, parseDocument, visit } from 'yaml';
import type { Document, Node as YamlNode, YAMLError } from 'yaml';
import { ConfigError } from './errors.js';
import { type EnvLookup, isSingleReference, MissingEnvError, substituteEnv } from './env.js';
import { messageOf } from '../errors.js';

export type KeyPath = ReadonlyArray<string | number>;

export class YamlFile {
  private constructor(
    readonly path: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
    /** The plain JavaScript value of the document, after ${ENV} substitution. */
    readonly data: unknown,
  ) {}

  /** Throws ConfigError (one line: file:line: problem) on unreadable files, syntax errors, missing env. */
  static read(path: string, env: EnvLookup): YamlFile {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new ConfigError({ file: path }, `cannot read file (${describeFsError(error)})`);
    }
    return YamlFile.parse(path, text, env);
  }

  static parse(path: string, text: string, env: EnvLookup): YamlFile {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    const syntaxError = doc.errors[0];
    if (syntaxError) {
      const offset = unclosedStart(doc, syntaxError) ?? syntaxError.pos[0];
      throw new ConfigError(
        { file: path, line: lines.linePos(offset).line },
        `YAML syntax error: ${syntaxMessage(syntaxError)}`,
      );
    }
    substituteScalars(doc, path, lines, env);
    return new YamlFile(path, doc, lines, doc.toJS({ maxAliasCount: 100 }) as unknown);
  }

  /** The line of the value at `path`, or of its nearest existing parent. */
  lineOf(path: KeyPath): number | undefined {
    for (let depth = path.length; depth >= 0; depth--) {
      const node = this.doc.getIn(path.slice(0, depth), true) as YamlNode | undefined;
      if (node?.range) return this.lines.linePos(node.range[0]).line;
    }
    return undefined;
  }

  /** The line of the key `key` inside the mapping at `parentPath` (for "unknown key" warnings). */
  lineOfKey(parentPath: KeyPath, key: string): number | undefined {
    const parent: unknown = parentPath.length ? this.doc.getIn(parentPath, true) : this.doc.contents;
    if (isMap(parent)) {
      for (const pair of parent.items) {
        if (isScalar(pair.key) && String(pair.key.value) === key && pair.key.range) {
          return this.lines.linePos(pair.key.range[0]).line;
        }
      }
    }
    return this.lineOf(parentPath);
  }
}

/**
 * The parser reports an unclosed quote or bracket where it noticed, often at the end of the file;
 * operators need the line where it was opened: the quoted scalar that runs to the error, or the
 * last flow collection ([ or {) opened before it.
 */
function unclosedStart(doc: Document, error: YAMLError): number | undefined {
  const position = error.pos[0];
  const quote = error.code === 'MISSING_CHAR';
  const flow = error.code === 'BAD_INDENT' && error.message.startsWith('Flow');
  if (!quote && !flow) return undefined;
  let start: number | undefined;
  visit(doc, (_key, node) => {
    const range = (node as { range?: [number, number, number] }).range;
    if (!range || (start !== undefined && range[0] <= start)) return;
    if (quote && isScalar(node) && range[0] <= position && position <= range[2]) start = range[0];
    if (flow && (isMap(node) || isSeq(node)) && node.flow && range[0] < position) start = range[0];
  });
  return start;
}

function syntaxMessage(error: YAMLError): string {
  if (error.code === 'MULTIPLE_DOCS') return 'expected one document, found a second one (a line with ---)';
  return error.message.split('\n')[0] ?? error.message;
}

function substituteScalars(doc: Document, path: string, lines: LineCounter, env: EnvLookup): void {
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value !== 'string') return;
      let substituted: string | undefined;
      try {
        substituted = substituteEnv(node.value, env);
      } catch (error) {
        if (!(error instanceof MissingEnvError)) throw error;
        const line = node.range ? lines.linePos(node.range[0]).line : undefined;
        throw new ConfigError({ file: path, line }, error.message);
      }
      if (substituted === undefined) return;
      // An unquoted `port: ${API_PORT}` should give a number, as if the value had been written there.
      const typed: unknown =
        node.type === 'PLAIN' && isSingleReference(node.value) ? parseYamlScalar(substituted) : substituted;
      node.value =
        typeof typed === 'number' || typeof typed === 'boolean' || typed === null ? typed : substituted;
    },
  });
}

export function describeFsError(error: unknown): string {
  if (error instanceof Error && 'code' in error) {
    const code = String((error as NodeJS.ErrnoException).code);
    const reasons: Record<string, string> = {
      ENOENT: 'no such file',
      EACCES: 'permission denied',
      EISDIR: 'is a directory, expected a file',
      ENOTDIR: 'a parent is not a directory',
      ELOOP: 'too many symbolic links',
    };
    return `${code}: ${reasons[code] ?? error.message}`;
  }
  return messageOf(error);
}
