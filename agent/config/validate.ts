// Validation of a settings fragment against the schema, turning Ajv's errors into operator messages
// located in the YAML file: errors (refuse to start) and unknown keys (a warning, then ignored).
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { TSchema } from '@sinclair/typebox';
import { ConfigError, formatKeyPath } from './errors.js';
import { AJV_PROFILES, type AjvProfile, precompiledValidator } from '../shared/precompiled-validators.js';
import { isSecretKey } from './secrets.js';
import type { KeyPath, YamlFile } from './yaml-file.js';

export interface ValidationResult {
  errors: ConfigError[];
  /** Unknown keys: an operator sees them, the agent ignores them. */
  warnings: ConfigError[];
}

export class SchemaValidator {
  private checkFunction?: ValidateFunction;
  private fillFunction?: ValidateFunction;

  /** Compiled when first used (most are generated at build time: shared/precompiled-validators.ts). */
  constructor(private readonly schema: TSchema) {}

  private get check(): ValidateFunction {
    return (this.checkFunction ??= validatorOf('check', this.schema));
  }

  private get fill(): ValidateFunction {
    return (this.fillFunction ??= validatorOf('fill', this.schema));
  }

  /**
   * Validates `data` (found at `basePath` in `file`). Unknown keys are removed from `data`
   * and reported as warnings, so the rest of the agent never sees them.
   */
  validate(data: unknown, file: YamlFile, basePath: KeyPath = []): ValidationResult {
    const result: ValidationResult = { errors: [], warnings: [] };
    if (this.check(data)) return result;
    const reported = new Set<string>();
    // Lines are looked up for the messages listed only: a file of 100,000 bad keys costs no more.
    let unlistedWarnings = 0;
    let unlistedErrors = 0;
    for (const error of this.check.errors ?? []) {
      const path = [...basePath, ...pointerToPath(error.instancePath)];
      if (error.keyword === 'additionalProperties') {
        const unknown = String((error.params as { additionalProperty: string }).additionalProperty);
        removeKey(data, pointerToPath(error.instancePath), unknown);
        if (result.warnings.length >= MAX_MESSAGES_PER_CALL) {
          unlistedWarnings++;
          continue;
        }
        const key = file.keyForMessage([...path, unknown]);
        result.warnings.push(
          new ConfigError(
            { file: file.path, line: file.lineOfKey(path, unknown), key },
            key ? 'unknown key, ignored' : `an unknown key, ignored (${hiddenReason(file, 'name')})`,
          ),
        );
        continue;
      }
      // A union reports every branch that failed; its own anyOf error says it better, once.
      if (/\/anyOf\/\d+\//.test(error.schemaPath)) continue;
      // One message per key: `-1.5` for an integer >= 0 is one mistake, not two.
      const dedupe = formatKeyPath(path);
      if (reported.has(dedupe)) continue;
      reported.add(dedupe);
      if (result.errors.length >= MAX_MESSAGES_PER_CALL) {
        unlistedErrors++;
        continue;
      }
      const key = file.keyForMessage(path);
      result.errors.push(
        new ConfigError(
          { file: file.path, line: file.lineOf(path), key: key || undefined },
          describe(error, key, file),
        ),
      );
    }
    const byLine = (a: ConfigError, b: ConfigError) => (a.location.line ?? 0) - (b.location.line ?? 0);
    result.errors.sort(byLine);
    result.warnings.sort(byLine);
    if (unlistedErrors)
      result.errors.push(
        new ConfigError({ file: file.path }, `and ${unlistedErrors} more errors (not listed)`),
      );
    if (unlistedWarnings)
      result.warnings.push(
        new ConfigError(
          { file: file.path },
          `and ${unlistedWarnings} more unknown keys, ignored (not listed)`,
        ),
      );
    return result;
  }

  /** Fills defaults into an already valid object (mutates and returns it). */
  withDefaults<T>(data: unknown): T {
    this.fill(data);
    return data as T;
  }
}

/**
 * What is compiled for a profile: checks see defaulted keys as optional (verbose: errors carry the
 * offending value and the schema's description, used in messages); filling sees the schema as is.
 */
export function compiledSchemaOf(profile: AjvProfile, schema: TSchema): TSchema {
  return profile === 'check' ? defaultedAreOptional(schema) : schema;
}

function validatorOf(profile: AjvProfile, schema: TSchema): ValidateFunction {
  const compiled = compiledSchemaOf(profile, schema);
  return precompiledValidator(profile, compiled) ?? new Ajv(AJV_PROFILES[profile]).compile(compiled);
}

/** Messages listed per validation, errors and warnings each; the rest are counted in one more line. */
export const MAX_MESSAGES_PER_CALL = 20;

/** Why a message does not quote a key's name or value (see YamlFile.keyForMessage). */
function hiddenReason(file: YamlFile, what: 'name' | 'value'): string {
  return file.quotable
    ? `its ${what} is not shown: the key does not look like a setting name`
    : `its ${what} is not shown: the file is a symbolic link out of the config dir`;
}

const TYPE_NAMES: Record<string, string> = {
  integer: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
  null: 'nothing',
};

function describe(error: ErrorObject, key: string | undefined, file: YamlFile): string {
  const got =
    key === undefined
      ? `got ${kindOf(error.data)} (${hiddenReason(file, 'value')})`
      : isSecretKey(key)
        ? 'got a value (hidden: it is a secret)'
        : `got ${describeValue(error.data)}`;
  const description = (error.parentSchema as { description?: string } | undefined)?.description;
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'type':
      return `expected ${String(params.type)
        .split(',')
        .map((type) => TYPE_NAMES[type] ?? type)
        .join(' or ')}, ${got}`;
    case 'anyOf': {
      const options = ((error.schema as Array<{ const?: unknown }>) ?? [])
        .map((branch) => branch.const)
        .filter((value) => value !== undefined)
        .map((value) => (typeof value === 'string' ? value : JSON.stringify(value)));
      return options.length
        ? `expected one of ${options.join(', ')}, ${got}`
        : `expected ${description ?? 'a valid value'}, ${got}`;
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `expected a number ${String(params.comparison)} ${String(params.limit)}, ${got}`;
    case 'uniqueItems':
      return `expected no duplicates, but items ${Math.min(Number(params.i), Number(params.j))} and ${Math.max(Number(params.i), Number(params.j))} are the same`;
    case 'required':
      return `missing required key '${String(params.missingProperty)}'`;
    default:
      return `expected ${description ?? error.message ?? 'a valid value'}, ${got}`;
  }
}

function kindOf(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `a ${typeof value}`;
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string')
    return `string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  return `${typeof value} ${JSON.stringify(value)}`;
}

function pointerToPath(pointer: string): Array<string | number> {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

function removeKey(root: unknown, path: Array<string | number>, key: string): void {
  let node: unknown = root;
  for (const part of path) node = (node as Record<string | number, unknown> | undefined)?.[part];
  if (node && typeof node === 'object') delete (node as Record<string, unknown>)[key];
}

/**
 * A deep copy of a JSON schema where a key with a default is not required: TypeBox lists every
 * non-Optional key as required, but a key the defaults will fill may be left out of a file.
 */
function defaultedAreOptional(schema: unknown): TSchema {
  if (Array.isArray(schema)) return schema.map(defaultedAreOptional) as unknown as TSchema;
  if (typeof schema !== 'object' || schema === null) return schema as TSchema;
  const source = schema as Record<string, unknown>;
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(source)) copy[key] = defaultedAreOptional(value);
  if (Array.isArray(source.required) && source.properties) {
    const properties = source.properties as Record<string, { default?: unknown }>;
    copy.required = (source.required as string[]).filter((key) => properties[key]?.default === undefined);
  }
  return copy as TSchema;
}
