// Loading the whole configuration: <config-dir>/agent.yml, then conf.d/*.yml in name order, then
// packs' definition files. A file may hold agent settings (merged, later files win) and
// definitions (detector:, collector:, ... one object per file or a list). Everything is
// validated before anything starts; a definition of a kind that no subsystem handles, or of a
// misspelt kind, is an error (definition-kinds.ts): nothing the operator wrote silently vanishes.
import { formatBytes } from '../shared/format.js';
import { existsSync, lstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, join, resolve, sep } from 'node:path';
import type { TSchema } from '@sinclair/typebox';
import { isBindAddress, isLoopback, parseHostPort } from '../shared/addresses.js';
import { messageOf } from '../shared/errors.js';
import { parseRetention } from '../shared/retention-syntax.js';
import {
  BoundedReadError,
  describeFsError,
  maxConfigFileBytes,
  MAX_CONFIG_FILE_BYTES_ENV,
  readBoundedFile,
} from './bounded-read.js';
import { DefinitionKinds } from './definition-kinds.js';
import { ConfigError, printableKey } from './errors.js';
import type { EnvLookup } from './env.js';
import { applyPackOverrides, type PackInfo, readPackManifest } from './packs.js';
import { platusDefinitions } from './platus.js';
import { packageRoot } from '../shared/paths.js';
import { type AgentSettings, AgentSettingsSchema } from './schema.js';
import { MAX_MESSAGES_PER_CALL, SchemaValidator } from './validate.js';
import { type KeyPath, YamlFile } from './yaml-file.js';

/** A definition found in a file, validated against its kind's schema when the kind is known. */
export interface Definition {
  kind: string;
  /**
   * Unique per kind: the body's `name`, else the file's base name (with `-<index>` for the items
   * of a list file). A conf.d definition replaces a pack's definition of the same kind and name.
   */
  name: string;
  body: Record<string, unknown>;
  /**
   * Where it was written: the line of its `kind:` key, and the line of each key of its body
   * (a message about one key, an expression that does not parse, points at that key).
   */
  source: { file: string; line?: number; keyLines?: Readonly<Record<string, number>> };
  /** The pack that ships this definition, when it comes from one. */
  pack?: string;
}

export interface LoadedConfig {
  configDir: string;
  /** Files read, in order. */
  files: string[];
  settings: AgentSettings;
  definitions: Definition[];
  /** Packs found (packs/<name>/pack.yml), parameters with the operator's overrides applied. */
  packs: PackInfo[];
  /** One line each: file:line: key: problem. */
  warnings: string[];
}

export interface LoadOptions {
  configDir: string;
  env?: EnvLookup;
  /** Definition kinds the running subsystems handle, each with the schema of its body. */
  definitionSchemas?: Readonly<Record<string, TSchema>>;
  /**
   * Folders of packs (packs/<name>/{detectors,collectors,checks,handlers}/*.yml). Default: the
   * package's packs/ then <config-dir>/packs/; a pack in a later folder replaces one of the same name.
   */
  packDirs?: string[];
  /**
   * Refuse a file larger than this (bytes), before parsing it. Default: the environment's
   * OPSBRO_MAX_CONFIG_FILE_BYTES, else 4 MiB. Not a setting: settings come from these very files.
   * All the files of one load together may hold TOTAL_BUDGET_FILES times as much.
   */
  maxFileBytes?: number;
}

/** The files of one load together may hold this many times the per-file limit (16 MiB by default). */
const TOTAL_BUDGET_FILES = 4;

/** The largest encryption_key_file: a key is 44 characters and a newline. */
const MAX_KEY_FILE_BYTES = 4096;

/** All the errors of one load, and the warnings that may explain them (an unknown key is often a typo). */
export class ConfigErrors extends Error {
  constructor(
    readonly errors: ConfigError[],
    readonly warnings: string[] = [],
  ) {
    super(errors.map((error) => error.message).join('\n'));
    this.name = 'ConfigErrors';
  }
}

/** The folders of a pack that hold definitions. */
const PACK_DEFINITION_FOLDERS = ['detectors', 'collectors', 'checks', 'handlers'];

/** The top-level keys of settings: any other key may be a definition kind, or a misspelt one. */
const SETTING_KEYS = new Set(Object.keys(AgentSettingsSchema.properties));

const settingsValidator = new SchemaValidator(AgentSettingsSchema);

type Fragment = Record<string, unknown>;

/** The settings one file contributed, kept with the file to locate cross-file problems. */
interface FileSettings {
  file: YamlFile;
  data: Fragment;
}

/**
 * Loads and validates everything. Throws ConfigErrors only: whatever the files hold, the operator
 * gets file:line messages, never a stack trace.
 */
export function loadConfig(options: LoadOptions): LoadedConfig {
  try {
    return loadConfigUnguarded(options);
  } catch (error) {
    if (error instanceof ConfigErrors) throw error;
    // Only the error's name: its message may quote a file that must not be quoted.
    throw new ConfigErrors([
      new ConfigError(
        { file: resolve(options.configDir) },
        `cannot load the configuration (${error instanceof Error ? error.name : 'error'}; this is a bug of opsbro: please report it)`,
      ),
    ]);
  }
}

function loadConfigUnguarded(options: LoadOptions): LoadedConfig {
  const configDir = resolve(options.configDir);
  const env = options.env ?? ((name: string) => process.env[name]);
  const definitionSchemas = options.definitionSchemas ?? {};
  const kinds = new DefinitionKinds(new Set(Object.keys(definitionSchemas)));
  const definitionValidators = new Map(
    Object.entries(definitionSchemas).map(([kind, schema]) => [kind, new SchemaValidator(schema)]),
  );

  if (!existsSync(configDir) || !statSync(configDir).isDirectory()) {
    throw new ConfigErrors([
      new ConfigError({ file: configDir }, 'config dir does not exist or is not a directory'),
    ]);
  }
  let maxFileBytes: number;
  try {
    maxFileBytes = options.maxFileBytes ?? maxConfigFileBytes(env);
  } catch (error) {
    throw new ConfigErrors([
      new ConfigError({ file: MAX_CONFIG_FILE_BYTES_ENV }, (error as Error).message.replace(/^[^:]*: /, '')),
    ]);
  }

  const errors: ConfigError[] = [];
  const warnings: ConfigError[] = [];
  const definitions: FoundKindDefinition[] = [];
  const contributions: FileSettings[] = [];
  const packDirs = options.packDirs ?? [join(packageRoot(), 'packs'), join(configDir, 'packs')];
  const packFolders = findPacks(packDirs, errors);
  const reader = new FileReader(env, maxFileBytes, configDir);
  const packs = packFolders.map(([name, dir]) => readPackManifest(name, dir, reader, errors, warnings));
  const sources = [...configFiles(configDir, errors), ...packFiles(packFolders, errors)];

  for (const { path, pack, packDir } of sources) {
    const errorsBefore = errors.length;
    const warningsBefore = warnings.length;
    try {
      const file = reader.tryRead(path, packDir ?? configDir, errors);
      if (file) readFile(file, pack);
    } catch (error) {
      // A bug of the loader on strange input must still be one line about the file, not a stack
      // trace; the error's own message may quote the file, so only its name is shown.
      errors.push(
        new ConfigError(
          { file: path },
          `cannot be loaded (${error instanceof Error ? error.name : 'error'}; this is a bug of opsbro: please report it)`,
        ),
      );
    }
    capMessages(errors, errorsBefore, path, 'errors');
    capMessages(warnings, warningsBefore, path, 'warnings');
  }

  function readFile(file: YamlFile, pack: string | undefined): void {
    const path = file.path;
    // A Platus services.yaml (found by its shape, outside packs) is read as Platus writes it.
    const split =
      (pack === undefined && platusDefinitions(file, kinds, errors)) || splitFile(file, kinds, errors);
    for (const { definition, path: bodyPath } of split.definitions) {
      if (pack) definition.pack = pack;
      const validator = definitionValidators.get(definition.kind);
      const result = validator?.validate(definition.body, file, bodyPath);
      if (result) {
        errors.push(...result.errors);
        warnings.push(...result.warnings);
        if (!result.errors.length) validator!.withDefaults(definition.body);
      }
      definitions.push(Object.assign(definition, { quotable: file.quotable }));
    }
    if (!split.settings) return;
    if (pack && Object.keys(split.settings).length) {
      const key = Object.keys(split.settings)[0]!;
      const shown = file.keyForMessage([key]);
      errors.push(
        new ConfigError(
          { file: path, line: file.lineOfKey([], key), key: shown },
          'pack files hold definitions only (detector:, collector:, ...); put settings in agent.yml or conf.d',
        ),
      );
      return;
    }
    const result = settingsValidator.validate(split.settings, file);
    errors.push(...result.errors);
    warnings.push(...result.warnings);
    contributions.push({ file, data: split.settings });
  }
  if (errors.length)
    throw new ConfigErrors(
      errors,
      warnings.map((warning) => warning.message),
    );

  const settings = settingsValidator.withDefaults<AgentSettings>(
    contributions.map((contribution) => contribution.data).reduce(deepMerge, {}),
  );
  const located = (path: KeyPath) => locate(contributions, path);
  applyPackOverrides(packs, settings.packs, located, warnings);
  errors.push(...duplicateDefinitions(definitions, warnings));
  const warningLines = warnings.map((warning) => warning.message);
  checkListeners(settings, located, errors);
  resolvePaths(settings, configDir, located, errors);
  if (errors.length) throw new ConfigErrors(errors, warningLines);
  return {
    configDir,
    files: sources.map((source) => source.path),
    settings,
    definitions: definitions.filter(
      (definition) =>
        !definition.replaced &&
        (!definition.pack || packs.find((pack) => pack.name === definition.pack)?.enabled !== false),
    ),
    packs,
    warnings: warningLines,
  };
}

/**
 * Names are unique per kind. A conf.d definition may replace a pack's definition of the same kind
 * and name (that is how an operator changes a shipped detector); any other clash is an error.
 */
function duplicateDefinitions(definitions: FoundKindDefinition[], warnings: ConfigError[]): ConfigError[] {
  const errors: ConfigError[] = [];
  const seen = new Map<string, FoundKindDefinition>();
  for (const definition of definitions) {
    const key = `${definition.kind}\0${definition.name}`;
    const earlier = seen.get(key);
    if (!earlier) {
      seen.set(key, definition);
      continue;
    }
    const [fromPack, fromConfig] = earlier.pack ? [earlier, definition] : [definition, earlier];
    if (fromPack.pack && !fromConfig.pack) {
      fromPack.replaced = true;
      seen.set(key, fromConfig);
      warnings.push(
        new ConfigError(
          { file: fromConfig.source.file, line: fromConfig.source.line },
          `replaces ${shownName(fromConfig) ? `${definition.kind} ${shownName(fromConfig)}` : `a ${definition.kind}`} of pack ${fromPack.pack} (${fromPack.source.file})`,
        ),
      );
      continue;
    }
    errors.push(
      new ConfigError(
        { file: definition.source.file, line: definition.source.line },
        `a ${definition.kind} ${shownName(definition) ? `named ${shownName(definition)}` : 'of that name'} is already defined at ${earlier.source.file}:${earlier.source.line ?? 1}: give one of them another name`,
      ),
    );
  }
  return errors;
}

/**
 * Where the value in effect for `path` was written: the last file that set it. `key` is undefined
 * and `quotable` false when the file's text may not be quoted (YamlFile.keyForMessage).
 */
function locate(contributions: FileSettings[], path: KeyPath): Located {
  for (const { file, data } of [...contributions].reverse()) {
    let node: unknown = data;
    for (const part of path) {
      if (isPlainObject(node)) node = node[part];
      else node = Array.isArray(node) && typeof part === 'number' ? (node[part] as unknown) : undefined;
    }
    if (node !== undefined) {
      const key = file.keyForMessage(path);
      return { file: file.path, line: file.lineOf(path), key, quotable: key !== undefined };
    }
  }
  return { file: '(default)', key: path.join('.'), quotable: true };
}

interface Located {
  file: string;
  line?: number;
  key?: string;
  /** Whether a message may quote the value found there. */
  quotable: boolean;
}

type Locator = (path: KeyPath) => Located;

/** A string value as a message shows it: quoted when its file may be quoted, else only its kind. */
function shownValue(value: string, located: Located): string {
  if (!located.quotable) return 'a string (not shown: the file is a symbolic link out of the config dir)';
  return `string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
}

/**
 * At most MAX_MESSAGES_PER_CALL of the messages one file added (from `start`) are kept, the rest
 * counted in one more line: 100,000 unknown keys must not make 100,000 log lines and API entries.
 */
function capMessages(list: ConfigError[], start: number, file: string, what: 'errors' | 'warnings'): void {
  const added = list.length - start;
  if (added <= MAX_MESSAGES_PER_CALL + 1) return;
  // A validator's own "and N more ..." line stands for N messages.
  const count = list
    .splice(start + MAX_MESSAGES_PER_CALL)
    .reduce((sum, error) => sum + Number(/^and (\d+) more /.exec(error.problem)?.[1] ?? 1), 0);
  list.push(new ConfigError({ file }, `and ${count} more ${what} (not listed)`));
}

/** DESIGN.md: a listener beyond loopback requires authentication to be configured. */
function checkListeners(settings: AgentSettings, locate: Locator, errors: ConfigError[]): void {
  for (const key of ['bind_addr', 'advertise_addr'] as const) {
    const value = settings[key];
    if (value && !isBindAddress(value)) {
      const located = locate([key]);
      errors.push(new ConfigError(located, `expected an IP address, got ${shownValue(value, located)}`));
    }
  }
  checkDns(settings, locate, errors);
  checkListenerBind('statsd', 'statsd', settings, locate, errors);
  checkListenerBind('graphite', 'The graphite listener', settings, locate, errors);
  checkMetrics(settings, locate, errors);
  const { bind } = settings.api;
  if (!isBindAddress(bind)) {
    const located = locate(['api', 'bind']);
    errors.push(
      new ConfigError(located, `expected an IP address or localhost, got ${shownValue(bind, located)}`),
    );
  } else if (!isLoopback(bind) && settings.auth.tokens.length === 0) {
    errors.push(
      new ConfigError(
        locate(['api', 'bind']),
        `the HTTP API would listen on ${bind}, beyond loopback, without authentication: ` +
          'add a token under auth.tokens (name and a secret of 16+ characters) or bind to 127.0.0.1',
      ),
    );
  }
}

/** The DNS listener follows the API's rule; its recursors must be addresses it can send to. */
/** A listener's bind address: an IP address, and loopback unless tokens are configured. */
function checkListenerBind(
  section: 'dns' | 'statsd' | 'graphite',
  label: string,
  settings: AgentSettings,
  locate: Locator,
  errors: ConfigError[],
): void {
  const { enabled, bind } = settings[section];
  if (!enabled) return;
  if (!isBindAddress(bind)) {
    const located = locate([section, 'bind']);
    errors.push(
      new ConfigError(located, `expected an IP address or localhost, got ${shownValue(bind, located)}`),
    );
  } else if (!isLoopback(bind) && settings.auth.tokens.length === 0) {
    errors.push(
      new ConfigError(
        locate([section, 'bind']),
        `${label} would listen on ${bind}, beyond loopback, without authentication configured: ` +
          'add a token under auth.tokens (DESIGN.md: every listener beyond loopback alike) or bind to 127.0.0.1',
      ),
    );
  }
}

/** The metrics store's retention strings and rule patterns parse. */
function checkMetrics(settings: AgentSettings, locate: Locator, errors: ConfigError[]): void {
  const { metrics } = settings;
  const retentionError = (path: Array<string | number>, text: string): void => {
    try {
      parseRetention(text);
    } catch (error) {
      errors.push(new ConfigError(locate(path), messageOf(error)));
    }
  };
  settings.graphite.forward.forEach((text, index) => {
    const target = parseHostPort(text, 2003);
    if (!target || target.host === '0.0.0.0' || target.host === '::') {
      const located = locate(['graphite', 'forward', index]);
      errors.push(
        new ConfigError(
          located,
          `expected a carbon server, HOST or HOST:PORT (graphite.example.com, 10.0.0.5:2003), got ${shownValue(text, located)}`,
        ),
      );
    }
  });
  retentionError(['metrics', 'retention'], metrics.retention);
  metrics.rules.forEach((rule, index) => {
    try {
      new RegExp(rule.pattern);
    } catch (error) {
      errors.push(
        new ConfigError(
          locate(['metrics', 'rules', index, 'pattern']),
          `not a regular expression: ${messageOf(error)}`,
        ),
      );
    }
    if (rule.retention !== undefined)
      retentionError(['metrics', 'rules', index, 'retention'], rule.retention);
  });
}

function checkDns(settings: AgentSettings, locate: Locator, errors: ConfigError[]): void {
  const { dns } = settings;
  if (!dns.enabled) return;
  checkListenerBind('dns', 'DNS', settings, locate, errors);
  dns.recursors.forEach((text, index) => {
    const recursor = parseHostPort(text, 53);
    if (!recursor || !isBindAddress(recursor.host) || recursor.host === '0.0.0.0' || recursor.host === '::') {
      const located = locate(['dns', 'recursors', index]);
      errors.push(
        new ConfigError(
          located,
          `expected a recursor's IP address, HOST or HOST:PORT (10.0.0.2, 10.0.0.2:53, [::1]:53), got ${shownValue(text, located)}`,
        ),
      );
    }
  });
}

/** Relative paths in settings are relative to the config dir, wherever the agent was started. */
function resolvePaths(
  settings: AgentSettings,
  configDir: string,
  locate: Locator,
  errors: ConfigError[],
): void {
  if (settings.data_dir) settings.data_dir = resolve(configDir, settings.data_dir);
  if (!settings.encryption_key_file) return;
  const path = resolve(configDir, settings.encryption_key_file);
  let key: string;
  try {
    // Bounded and regular files only, like the config files: a FIFO here must not hang the start.
    key = readBoundedFile(path, MAX_KEY_FILE_BYTES).toString('utf8').trim();
  } catch (error) {
    if (!(error instanceof BoundedReadError)) throw error;
    errors.push(
      new ConfigError(
        locate(['encryption_key_file']),
        error.reason ? `cannot read ${path} (${error.reason})` : `${path} is ${error.problem}`,
      ),
    );
    return;
  }
  if (!/^[A-Za-z0-9+/]{43}=$/.test(key)) {
    errors.push(
      new ConfigError(
        locate(['encryption_key_file']),
        `${path} does not hold the base64 of 32 bytes, as printed by \`opsbro agent keygen\``,
      ),
    );
    return;
  }
  settings.encryption_key = key;
}

interface SourceFile {
  path: string;
  pack?: string;
  /** The pack's folder: its files may be quoted in messages when they lie inside it. */
  packDir?: string;
}

/**
 * Reads the files of one load: each bounded (maxFileBytes, refused before parsing), all together
 * too (TOTAL_BUDGET_FILES times that), and tells each file whether messages may quote it: only
 * when it lies, links resolved, inside the config dir or its pack's folder. A conf.d/x.yml ->
 * /etc/shadow is read (and refused) without a word of /etc/shadow reaching a message.
 */
export class FileReader {
  private totalBytes = 0;
  private exhausted = false;
  private readonly budgetBytes: number;
  private readonly realRoots = new Map<string, string | undefined>();

  constructor(
    private readonly env: EnvLookup,
    private readonly maxFileBytes: number,
    private readonly configDir: string,
  ) {
    this.budgetBytes = maxFileBytes * TOTAL_BUDGET_FILES;
  }

  /**
   * The parsed file; throws ConfigError on any problem. Undefined for every file after the one
   * that went over the budget (that one got the error).
   */
  read(path: string, root: string = this.configDir): YamlFile | undefined {
    if (this.exhausted) return undefined;
    let bytes: Buffer;
    try {
      bytes = readBoundedFile(path, this.maxFileBytes);
    } catch (error) {
      if (error instanceof BoundedReadError) throw new ConfigError({ file: path }, error.problem);
      throw error;
    }
    this.totalBytes += bytes.length;
    if (this.totalBytes > this.budgetBytes) {
      this.exhausted = true;
      throw new ConfigError(
        { file: path },
        `the configuration files hold more than ${formatBytes(this.budgetBytes)} together ` +
          `(${TOTAL_BUDGET_FILES} times the limit of one file): this file and those after it were not read`,
      );
    }
    return YamlFile.parse(path, bytes.toString('utf8'), this.env, {
      quotable: this.isInside(path, root),
      sizeBytes: bytes.length,
    });
  }

  /** Like read(), but records a ConfigError in `errors` and answers undefined. */
  tryRead(path: string, root: string, errors: ConfigError[]): YamlFile | undefined {
    try {
      return this.read(path, root);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      errors.push(error);
      return undefined;
    }
  }

  private isInside(path: string, root: string): boolean {
    if (!this.realRoots.has(root)) this.realRoots.set(root, realPath(root));
    const realRoot = this.realRoots.get(root);
    const real = realPath(path);
    return real !== undefined && realRoot !== undefined && real.startsWith(realRoot + sep);
  }
}

function realPath(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

function configFiles(configDir: string, errors: ConfigError[]): SourceFile[] {
  const files: SourceFile[] = [];
  const agentYml = join(configDir, 'agent.yml');
  // lstat: a dangling link is there, and reading it must fail loudly, not fall back to defaults.
  let present = true;
  try {
    present = lstatSync(agentYml, { throwIfNoEntry: false }) !== undefined;
  } catch {
    // Not even lstat works (EACCES): reading it will say why.
  }
  if (present) files.push({ path: agentYml });
  files.push(...yamlFilesIn(join(configDir, 'conf.d'), errors).map((path) => ({ path })));
  return files;
}

/** [name, dir] of every pack, by name; a pack in a later folder replaces one of the same name. */
function findPacks(packDirs: string[], errors: ConfigError[]): Array<[string, string]> {
  const packs = new Map<string, string>();
  for (const packDir of packDirs) {
    for (const name of listDir(packDir, errors)) {
      let isDirectory: boolean | undefined;
      try {
        isDirectory = statSync(join(packDir, name), { throwIfNoEntry: false })?.isDirectory();
      } catch (error) {
        // A link loop (ELOOP) or an unreadable entry: said once, the other packs still load.
        errors.push(
          new ConfigError({ file: join(packDir, name) }, `cannot read (${describeFsError(error)})`),
        );
        continue;
      }
      if (isDirectory) packs.set(name, join(packDir, name));
    }
  }
  return [...packs.entries()].sort(([a], [b]) => a.localeCompare(b));
}

function packFiles(packs: Array<[string, string]>, errors: ConfigError[]): SourceFile[] {
  return packs.flatMap(([pack, dir]) =>
    PACK_DEFINITION_FOLDERS.flatMap((folder) =>
      yamlFilesIn(join(dir, folder), errors).map((path) => ({ path, pack, packDir: dir })),
    ),
  );
}

/** *.yml and *.yaml files of a folder in name order; none when the folder does not exist. */
function yamlFilesIn(dir: string, errors: ConfigError[]): string[] {
  return listDir(dir, errors)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort()
    .map((name) => join(dir, name));
}

function listDir(dir: string, errors: ConfigError[]): string[] {
  if (!existsSync(dir)) return [];
  try {
    return readdirSync(dir);
  } catch (error) {
    errors.push(new ConfigError({ file: dir }, `cannot list directory (${describeFsError(error)})`));
    return [];
  }
}

/**
 * A definition while loading: marked when a conf.d definition of the same name replaces it, and
 * whether its file may be quoted (its name is, in messages, only then).
 */
type FoundKindDefinition = Definition & { replaced?: boolean; quotable?: boolean };

/** The definition's name when a message may quote it, else undefined. */
function shownName(definition: FoundKindDefinition): string | undefined {
  return definition.quotable === false ? undefined : printableKey(definition.name);
}

interface FoundDefinition {
  definition: Definition;
  /** Where the body sits in its file, to locate validation errors. */
  path: Array<string | number>;
}

/**
 * Separates definitions (keys that are definition kinds) from settings in one file. A definition
 * of a kind no subsystem handles, and a key that looks like a misspelt kind (`detectr:`), are
 * errors; in a list file, every item must be a definition (readFile refuses settings in a pack's).
 */
function splitFile(
  file: YamlFile,
  kinds: DefinitionKinds,
  errors: ConfigError[],
): { settings?: Fragment; definitions: FoundDefinition[] } {
  const data = file.data;
  if (data === null || data === undefined) return { definitions: [] };
  const definitions: FoundDefinition[] = [];

  const takeDefinition = (kind: string, body: unknown, path: Array<string | number>) => {
    // The definition's line is its `kind:` key, where an operator starts reading it.
    const line = file.lineOfKey(path.slice(0, -1), kind);
    if (!kinds.isHandled(kind)) {
      errors.push(new ConfigError({ file: file.path, line, key: kind }, kinds.unhandled(kind)));
      return;
    }
    if (!isPlainObject(body)) {
      errors.push(new ConfigError({ file: file.path, line, key: kind }, 'expected a mapping'));
      return;
    }
    const base = basename(file.path).replace(/\.ya?ml$/, '');
    const index = typeof path[0] === 'number' ? path[0] : undefined;
    const name =
      typeof body.name === 'string' && body.name
        ? body.name
        : index === undefined
          ? base
          : `${base}-${index}`;
    definitions.push({
      definition: {
        kind,
        name,
        body,
        source: { file: file.path, line, keyLines: keyLines(file, path, body) },
      },
      path: [...path],
    });
  };

  /** A key that is not a kind where only kinds may be; false when it is not quotable (said otherwise). */
  const notAKind = (parent: Array<string | number>, key: string, problem: string | undefined): boolean => {
    const shown = file.keyForMessage([...parent, key]);
    if (shown === undefined || problem === undefined) return false;
    errors.push(new ConfigError({ file: file.path, line: file.lineOfKey(parent, key), key: shown }, problem));
    return true;
  };

  if (Array.isArray(data)) {
    data.forEach((item, index) => {
      const entries = isPlainObject(item) ? Object.entries(item) : [];
      const key = entries.length === 1 ? entries[0]![0] : undefined;
      if (key !== undefined && !kinds.isKind(key) && notAKind([index], key, kinds.unknown(key))) return;
      if (key === undefined || !kinds.isKind(key)) {
        errors.push(
          new ConfigError(
            { file: file.path, line: file.lineOf([index]), key: `[${index}]` },
            'expected a definition: a mapping with one key such as detector: or collector:',
          ),
        );
        return;
      }
      takeDefinition(key, entries[0]![1], [index, key]);
    });
    return { definitions };
  }

  if (!isPlainObject(data)) {
    errors.push(
      new ConfigError({ file: file.path, line: 1 }, 'expected a mapping of settings or definitions'),
    );
    return { definitions };
  }
  const settings: Fragment = {};
  for (const [key, value] of Object.entries(data)) {
    if (kinds.isKind(key)) takeDefinition(key, value, [key]);
    else if (SETTING_KEYS.has(key) || !notAKind([], key, kinds.misspelt(key))) settings[key] = value;
  }
  return { settings, definitions };
}

/** The line of each key of a definition's body, for messages about one of them (an expression). */
function keyLines(
  file: YamlFile,
  path: Array<string | number>,
  body: Record<string, unknown>,
): Record<string, number> {
  const lines: Record<string, number> = Object.create(null) as Record<string, number>;
  for (const key of Object.keys(body)) {
    const line = file.lineOfKey(path, key);
    if (line !== undefined) lines[key] = line;
  }
  return lines;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Later fragments win; mappings merge key by key, lists and scalars are replaced. */
function deepMerge(base: Fragment, overlay: Fragment): Fragment {
  const merged: Fragment = { ...base };
  for (const [key, value] of Object.entries(overlay)) {
    const current = merged[key];
    merged[key] =
      isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : structuredClone(value);
  }
  return merged;
}
