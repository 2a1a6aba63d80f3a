// Ajv validators generated at build time (build/validators.mjs) for the schemas every agent start
// checks: settings, pack manifests, definitions and their bodies, check types. Compiling them at
// start-up took ~0.5 s of the agent's ~1.4 s of CPU (Ajv's compiler runs cold in a new process);
// the generated code is plain functions, read when first needed. A schema is found by a hash of
// its JSON and the options it is compiled with, so a validator generated for another version of a
// schema is never used: without a match (or without the file: tests run the sources) the schema
// is compiled as before.
import { hash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Options, ValidateFunction } from 'ajv';

/** Written next to the module that reads it: dist/agent/shared/ and dist/bundle/. */
export const GENERATED_VALIDATORS_FILE = 'validators.generated.cjs';

/**
 * The ways schemas are compiled: settings are checked with every error (config/validate.ts), then
 * filled with defaults; edge data (bodies, definitions) is checked to its first error, with or
 * without defaults filled (shared/schema-check.ts).
 */
export const AJV_PROFILES = {
  check: { allErrors: true, verbose: true, strict: false },
  fill: { useDefaults: true, strict: false },
  plain: { strict: false },
  filling: { strict: false, useDefaults: true },
} satisfies Record<string, Options>;
export type AjvProfile = keyof typeof AJV_PROFILES;

/** The name a validator of `schema` compiled with `profile` is exported under. */
export function validatorKey(profile: AjvProfile, schema: unknown): string {
  return `${profile}_${hash('sha1', JSON.stringify(schema), 'hex')}`;
}

let generated: Record<string, ValidateFunction> | null | undefined;

/**
 * What the lookups found, for the agent's debug log after its start (a start that compiles a
 * schema missed one in main.ts' START_SCHEMAS: the test of start-up compiles reads this).
 */
const lookups = { found: 0, missed: new Set<string>() };

/** Validators found generated, and the keys of those compiled at run time although a file was there. */
export function validatorLookups(): { generated: boolean; found: number; compiledAtRunTime: string[] } {
  return { generated: Boolean(generated), found: lookups.found, compiledAtRunTime: [...lookups.missed] };
}

/** The validator generated at build time for `schema` compiled with `profile`, if any. */
export function precompiledValidator(profile: AjvProfile, schema: unknown): ValidateFunction | undefined {
  const validators = generatedValidators();
  // Without the file (the sources run as they are), no key to hash: the schema is compiled.
  if (!validators) return undefined;
  const key = validatorKey(profile, schema);
  const validate = validators[key];
  if (validate) lookups.found++;
  // Bounded: a key per schema this build defines (a reload looks the same ones up again).
  else lookups.missed.add(key);
  return validate;
}

function generatedValidators(): Record<string, ValidateFunction> | null {
  if (generated === undefined) {
    try {
      generated = createRequire(import.meta.url)(`./${GENERATED_VALIDATORS_FILE}`) as Record<
        string,
        ValidateFunction
      >;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error;
      generated = null;
    }
  }
  return generated;
}
