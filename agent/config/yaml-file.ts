// One YAML configuration file (read by loader.ts's FileReader): parse with positions kept, substitute
// ${ENV}, and answer "which line holds this key?" for error messages.
//
// Every problem is one ConfigError (file:line: problem), never a stack trace, whatever the bytes:
// hostile input (alias bombs, deep nesting, binary garbage, a FIFO or /etc/shadow behind a symbolic
// link) is refused with a message that quotes none of the file's text unless it is a configuration
// file (see `quotable` and printableKey in errors.ts).
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  Lexer,
  LineCounter,
  parse as parseYamlScalar,
  parseDocument,
  visit,
} from 'yaml';
import type { Document, Node as YamlNode, YAMLError, YAMLMap } from 'yaml';
import { ConfigError, formatKeyPath, printableKey } from './errors.js';
import { type EnvLookup, EnvValueError, isSingleReference, MissingEnvError, substituteEnv } from './env.js';

export type KeyPath = ReadonlyArray<string | number>;

/**
 * Configuration needs a few levels (check: {thresholds: {cpu: {warning: 5}}}); a document nested
 * deeper than this is refused before anything walks it recursively.
 */
export const MAX_NESTING_DEPTH = 64;

/**
 * The most scalars (keys, values, list items) one file may hold. The parsed document costs about
 * 1 KB per scalar: 4 MiB of `k: 1` lines (470,000 scalars) peaked at 540 MB of RSS; 92,000 scalars
 * peak at 170 MB in all. The largest shipped file holds a few hundred.
 */
export const MAX_SCALARS = 100_000;

/** yaml's guard against alias bombs: alias uses times the size of what they copy. */
const MAX_ALIAS_COUNT = 100;

export interface ParseOptions {
  /**
   * Whether messages may quote the file's text (keys and values). False for a file reached through
   * a symbolic link out of the config dir (or out of its pack's folder): it may be anything
   * (/etc/shadow), and its text must never reach a log or the API. Default true.
   */
  quotable?: boolean;
  /** Bytes the text was read from. */
  sizeBytes?: number;
}

export class YamlFile {
  /** Per mapping: the line of each key, built on first use (lineOfKey is called once per unknown key). */
  private readonly keyLines = new WeakMap<YAMLMap, Map<string, number>>();

  private constructor(
    readonly path: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
    /** The plain JavaScript value of the document, after ${ENV} substitution. */
    readonly data: unknown,
    /** Whether messages may quote this file's keys and values (see ParseOptions.quotable). */
    readonly quotable: boolean,
    /** Bytes read. */
    readonly sizeBytes: number,
  ) {}

  /** Throws ConfigError (one line: file:line: problem) for anything but a valid YAML document. */
  static parse(path: string, text: string, env: EnvLookup, options: ParseOptions = {}): YamlFile {
    checkScalarCount(path, text);
    const lines = new LineCounter();
    // uniqueKeys: false: the library compares every key with every other (25,000 keys took 6 s);
    // checkStructure finds duplicates with one Set per mapping instead.
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
    const syntaxError = doc.errors[0];
    if (syntaxError) {
      const offset = unclosedStart(doc, syntaxError) ?? syntaxError.pos[0];
      throw new ConfigError(
        { file: path, line: lines.linePos(offset).line },
        `YAML syntax error: ${syntaxMessage(syntaxError)}`,
      );
    }
    const lineAt = (node: unknown): number | undefined => {
      const range = (node as { range?: [number, number, number] } | undefined)?.range;
      return range ? lines.linePos(range[0]).line : undefined;
    };
    checkStructure(doc, (node, problem) => new ConfigError({ file: path, line: lineAt(node) }, problem));
    substituteScalars(doc, path, lineAt, env);
    let data: unknown;
    try {
      data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown;
    } catch (error) {
      // checkStructure ruled out aliases without an anchor and cycles: this is the alias bomb guard.
      const firstAlias = findFirstAlias(doc);
      throw new ConfigError(
        { file: path, line: lineAt(firstAlias) },
        error instanceof ReferenceError
          ? `YAML aliases expand too much (more than ${MAX_ALIAS_COUNT} copies of aliased nodes): write the values out, or alias less`
          : 'cannot turn this YAML document into configuration values',
      );
    }
    return new YamlFile(path, doc, lines, data, options.quotable ?? true, options.sizeBytes ?? text.length);
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
      let index = this.keyLines.get(parent);
      if (!index) {
        index = new Map();
        for (const pair of parent.items) {
          if (isScalar(pair.key) && pair.key.range && !index.has(String(pair.key.value)))
            index.set(String(pair.key.value), this.lines.linePos(pair.key.range[0]).line);
        }
        this.keyLines.set(parent, index);
      }
      const line = index.get(key);
      if (line !== undefined) return line;
    }
    return this.lineOf(parentPath);
  }

  /**
   * `path` as a message shows it (`api.port`, `packs.redis.parameters.port`), or undefined when it
   * must not be shown: the file is not quotable, or a key does not look like a setting name (a line
   * of /etc/shadow read as a key, say).
   */
  keyForMessage(path: KeyPath): string | undefined {
    if (!this.quotable) return undefined;
    for (const part of path)
      if (typeof part === 'string' && printableKey(part) === undefined) return undefined;
    return formatKeyPath(path);
  }
}

/**
 * Refuses a text of more than MAX_SCALARS scalars before parsing it, counting the lexer's tokens
 * (a streaming pass, no document built). A scalar takes at least two bytes (`1,`), so a text of
 * fewer than twice as many bytes needs no count.
 */
function checkScalarCount(path: string, text: string): void {
  if (text.length <= 2 * MAX_SCALARS) return;
  let scalars = 0;
  let offset = 0;
  for (const token of new Lexer().lex(text)) {
    // The lexer announces every scalar with this control character.
    if (token === '\x1f' && ++scalars > MAX_SCALARS) {
      let line = 1;
      for (
        let index = text.indexOf('\n');
        index >= 0 && index < offset;
        index = text.indexOf('\n', index + 1)
      )
        line++;
      throw new ConfigError(
        { file: path, line },
        `too many values (more than ${MAX_SCALARS} keys, values and list items in one file): split it into several files`,
      );
    }
    // The lexer's markers (document, flow error end, scalar) are not text of the file.
    if (token !== '\x02' && token !== '\x18' && token !== '\x1f') offset += token.length;
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
  try {
    visit(doc, (_key, node) => {
      const range = (node as { range?: [number, number, number] }).range;
      if (!range || (start !== undefined && range[0] <= start)) return;
      if (quote && isScalar(node) && range[0] <= position && position <= range[2]) start = range[0];
      if (flow && (isMap(node) || isSeq(node)) && node.flow && range[0] < position) start = range[0];
    });
  } catch {
    // A document too deep to walk: the parser's position will do.
  }
  return start;
}

/**
 * The parser's messages that quote nothing of the file (some quote a tag, an escape sequence or the
 * offending text: "Not a YAML token: <bytes>"). Any other message is replaced by a phrase of its code.
 */
const CONTENT_FREE_MESSAGES: readonly RegExp[] = [
  /^All (mapping|sequence) items must start at the same column$/,
  /^Block collections are not allowed within flow collections$/,
  /^Tabs are not allowed as indentation$/,
  /^Implicit keys (of flow sequence pairs )?need to be on a single line$/,
  /^Implicit map keys need to be followed by map values$/,
  /^Missing closing ["']quote$/,
  /^Flow (sequence|map) in block collection must be sufficiently indented and end with a [\]}]$/,
  /^Missing (,|, or :) between flow (map|sequence) items$/,
  /^Missing space after : in flow (map|sequence)$/,
  /^Unexpected (,|empty item) in flow (map|sequence)$/,
  /^Nested mappings are not allowed in compact mappings$/,
  /^A block sequence may not be used as an implicit map key$/,
  /^Comments must be separated from other tokens by white space characters$/,
  /^Tags and anchors must be separated from the next token by white space$/,
  /^Sequence item without - indicator$/,
  /^A node can have at most one (anchor|tag)$/,
  /^An alias node must not specify any properties$/,
  /^(Alias|Anchor) (cannot be an empty string|ending in : is ambiguous)$/,
  /^The : indicator must be at most 1024 chars after the start of an implicit (block mapping|flow sequence) key$/,
  /^Block scalar lines must not be less indented than their [a-z ]+$/,
  /^Unexpected [a-z-]+ (at node end|token( in YAML (stream|document))?)$/,
  /^Expected a flow scalar value, but found: [a-z-]+$/,
  /^Missing directives-end(\/doc-start)? indicator line$/,
  /^Block collection cannot start on same line with directives-end marker$/,
  /^Plain value cannot start with [@`]$/,
];

const PHRASE_BY_CODE: Readonly<Record<string, string>> = {
  TAG_RESOLVE_FAILED: 'unknown tag (opsbro configuration uses no YAML tags such as !!binary or !custom)',
  BAD_DQ_ESCAPE: 'invalid escape sequence in a double-quoted string',
  BAD_DIRECTIVE: 'invalid directive (a line starting with %)',
  BAD_COLLECTION_TYPE: 'a tag that does not fit its value',
  BAD_SCALAR_START: 'a plain value cannot start with this character: quote it',
};

function syntaxMessage(error: YAMLError): string {
  if (error.code === 'MULTIPLE_DOCS') return 'expected one document, found a second one (a line with ---)';
  const message = error.message.split('\n')[0] ?? '';
  if (/Maximum call stack size exceeded/.test(message)) return nestingMessage();
  if (CONTENT_FREE_MESSAGES.some((pattern) => pattern.test(message))) return message;
  return (
    PHRASE_BY_CODE[error.code] ?? 'this is not valid YAML (text that is not a key, a value or a list item)'
  );
}

function nestingMessage(): string {
  return `nested too deeply (more than ${MAX_NESTING_DEPTH} levels of mappings and lists)`;
}

/**
 * What the parser lets through and the rest of the loader must not see, in one iterative walk
 * (a recursive one would overflow the stack on the deep nesting it is there to refuse): nesting
 * deeper than MAX_NESTING_DEPTH, duplicate keys in a mapping, keys that are not plain scalars, and
 * aliases with no anchor before them or inside the node they copy (a cycle).
 */
function checkStructure(doc: Document, fail: (node: unknown, problem: string) => ConfigError): void {
  type Step = { node: unknown; depth: number } | { leave: unknown };
  const lastAnchor = new Map<string, unknown>();
  const open = new Set<unknown>();
  const stack: Step[] = [{ node: doc.contents, depth: 0 }];
  while (stack.length) {
    const step = stack.pop()!;
    if ('leave' in step) {
      open.delete(step.leave);
      continue;
    }
    const { node, depth } = step;
    if (node === null || node === undefined) continue;
    if (isAlias(node)) {
      const target = lastAnchor.get(node.source);
      if (target === undefined) throw fail(node, 'an alias (*name) with no anchor (&name) before it');
      if (open.has(target)) throw fail(node, 'an alias inside the node it refers to (a cycle)');
      continue;
    }
    const anchor = (node as { anchor?: string }).anchor;
    if (anchor) lastAnchor.set(anchor, node);
    if (!isMap(node) && !isSeq(node)) continue;
    if (depth >= MAX_NESTING_DEPTH) throw fail(node, nestingMessage());
    open.add(node);
    stack.push({ leave: node });
    const children: Array<{ node: unknown; depth: number }> = [];
    if (isMap(node)) {
      const keys = new Set<string>();
      for (const pair of node.items) {
        if (!isScalar(pair.key) && pair.key !== null) {
          throw fail(pair.key, 'a key that is a list, a mapping or an alias: keys are plain names');
        }
        const key = isScalar(pair.key) ? String(pair.key.value) : 'null';
        if (keys.has(key)) throw fail(pair.key, 'YAML syntax error: Map keys must be unique');
        keys.add(key);
        children.push({ node: pair.key, depth: depth + 1 }, { node: pair.value, depth: depth + 1 });
      }
    } else {
      for (const item of node.items) {
        // A flow sequence may hold single pairs ([a: 1]): walk both sides.
        if (isPair(item))
          children.push({ node: item.key, depth: depth + 1 }, { node: item.value, depth: depth + 1 });
        else children.push({ node: item, depth: depth + 1 });
      }
    }
    for (let index = children.length - 1; index >= 0; index--) stack.push(children[index]!);
  }
}

function findFirstAlias(doc: Document): unknown {
  let first: unknown;
  visit(doc, {
    Alias(_key, node) {
      first = node;
      return visit.BREAK;
    },
  });
  return first;
}

function substituteScalars(
  doc: Document,
  path: string,
  lineAt: (node: unknown) => number | undefined,
  env: EnvLookup,
): void {
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value !== 'string') return;
      let substituted: string | undefined;
      try {
        substituted = substituteEnv(node.value, env);
      } catch (error) {
        const problem =
          error instanceof MissingEnvError || error instanceof EnvValueError
            ? error.message
            : 'cannot substitute ${...} references in this value';
        throw new ConfigError({ file: path, line: lineAt(node) }, problem);
      }
      if (substituted === undefined) return;
      // An unquoted `port: ${API_PORT}` should give a number, as if the value had been written there.
      node.value =
        node.type === 'PLAIN' && isSingleReference(node.value) ? typedScalar(substituted) : substituted;
    },
  });
}

/** A number, boolean or null when the text reads as one in YAML, else the text itself. */
function typedScalar(text: string): unknown {
  try {
    const typed: unknown = parseYamlScalar(text);
    return typeof typed === 'number' || typeof typed === 'boolean' || typed === null ? typed : text;
  } catch {
    return text;
  }
}
