// Packs: packs/<name>/pack.yml (name, description, version, parameters with defaults) beside the
// pack's definition folders. Parameters reach the pack's expressions as {parameters.…}; an operator
// overrides them from agent.yml or conf.d (`packs: {redis: {parameters: {port: 6380}}}`).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { ConfigError } from './errors.js';
import { packageRoot } from '../shared/paths.js';
import type { FileReader } from './loader.js';
import { SchemaValidator } from './validate.js';

export const PackManifestSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]+$' })),
    description: Type.String({ default: '' }),
    version: Type.String({ default: '0' }),
    /** Parameter name -> default value. */
    parameters: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_]+$' }), Type.Unknown(), { default: {} }),
  },
  { additionalProperties: false },
);
type PackManifest = Static<typeof PackManifestSchema>;

const manifestValidator = new SchemaValidator(PackManifestSchema);

/** The packs this package ships (folders of its packs/), by name. */
export function shippedPackNames(): string[] {
  return readdirSync(join(packageRoot(), 'packs'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

/**
 * agent.yml text that switches the named packs off: a `packs:` line, then one
 * `  NAME: {enabled: false}` line per pack, joined by newlines (no trailing newline). With no names:
 * `packs: {}`.
 */
export function disabledPacksYaml(names: readonly string[]): string {
  if (!names.length) return 'packs: {}';
  return ['packs:', ...names.map((name) => `  ${name}: {enabled: false}`)].join('\n');
}

/** A pack as the agent uses it. */
export interface PackInfo {
  name: string;
  description: string;
  version: string;
  dir: string;
  /** Effective parameters: the pack's defaults with the operator's overrides. */
  parameters: Record<string, unknown>;
  /** The pack's own defaults, for `opsbro packs show`. */
  defaults: Record<string, unknown>;
  /** Parameter names the operator overrode. */
  overridden: string[];
  /** `packs: {NAME: {enabled: false}}`: listed, but none of its definitions load. */
  enabled: boolean;
}

/** Reads a pack's pack.yml (optional: a pack without one has no parameters). */
export function readPackManifest(
  name: string,
  dir: string,
  reader: FileReader,
  errors: ConfigError[],
  warnings: ConfigError[],
): PackInfo {
  const path = join(dir, 'pack.yml');
  const info: PackInfo = {
    name,
    description: '',
    version: '0',
    dir,
    parameters: {},
    defaults: {},
    overridden: [],
    enabled: true,
  };
  if (!existsSync(path)) return info;
  const file = reader.tryRead(path, dir, errors);
  if (!file) return info;
  const data = file.data;
  if (typeof data !== 'object' || data === null || !('pack' in data)) {
    errors.push(
      new ConfigError(
        { file: path, line: 1 },
        'expected `pack:` with name, description, version, parameters',
      ),
    );
    return info;
  }
  const body = data.pack ?? {};
  const result = manifestValidator.validate(body, file, ['pack']);
  errors.push(...result.errors);
  warnings.push(...result.warnings);
  if (result.errors.length) return info;
  const manifest = manifestValidator.withDefaults<PackManifest>(body);
  if (manifest.name && manifest.name !== name) {
    errors.push(
      new ConfigError(
        { file: path, line: file.lineOf(['pack', 'name']), key: 'pack.name' },
        `the pack's folder is ${name}: name it ${name} or rename the folder`,
      ),
    );
  }
  return {
    ...info,
    description: manifest.description,
    version: manifest.version,
    defaults: { ...manifest.parameters },
    parameters: { ...manifest.parameters },
  };
}

/**
 * Applies `packs:` overrides from the settings. Overrides of an unknown pack or parameter are
 * warnings (a typo should not stop the agent, but must be visible).
 */
export function applyPackOverrides(
  packs: PackInfo[],
  overrides: Record<string, { enabled: boolean; parameters: Record<string, unknown> }>,
  locate: (path: string[]) => { file: string; line?: number; key?: string },
  warnings: ConfigError[],
): void {
  for (const [packName, override] of Object.entries(overrides)) {
    const pack = packs.find((candidate) => candidate.name === packName);
    if (!pack) {
      warnings.push(new ConfigError(locate(['packs', packName]), 'no pack of that name, ignored'));
      continue;
    }
    pack.enabled = override.enabled;
    for (const [parameter, value] of Object.entries(override.parameters)) {
      if (!Object.hasOwn(pack.defaults, parameter)) {
        const located = locate(['packs', packName, 'parameters', parameter]);
        // The key is undefined when the file may not be quoted (a link out of the config dir, a
        // parameter name that does not look like one): the pack's own names may still be listed.
        const what = located.key ? `no parameter ${parameter}` : 'no parameter of that name';
        warnings.push(
          new ConfigError(
            located,
            `pack ${packName} has ${what} (it has: ${Object.keys(pack.defaults).join(', ') || 'none'}), ignored`,
          ),
        );
        continue;
      }
      pack.parameters[parameter] = value;
      pack.overridden.push(parameter);
    }
  }
}
