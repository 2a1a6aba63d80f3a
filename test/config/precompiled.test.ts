// The validators generated at build time (build/validators.mjs, run by `npm run build`) must be the
// ones the sources describe and behave as Ajv compiling the schemas at run time does: the built
// agent uses them instead of compiling (agent/shared/precompiled-validators.ts).
import { createRequire } from 'node:module';
import { Ajv, type ValidateFunction } from 'ajv';
import type { TSchema } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { AJV_PROFILES, type AjvProfile, validatorKey } from '../../agent/shared/precompiled-validators.js';
import { compiledSchemaOf } from '../../agent/config/validate.js';
import { AgentSettingsSchema } from '../../agent/config/schema.js';
import { PackManifestSchema } from '../../agent/config/packs.js';
import { DEFINITION_SCHEMAS, START_SCHEMAS } from '../../agent/main.js';
import { REQUEST_BODY_SCHEMAS } from '../../agent/shared/body.js';
import { CHECK_TYPES } from '../../agent/checks/index.js';

const require = createRequire(import.meta.url);
const generated = require('../../dist/agent/shared/validators.generated.cjs') as Record<
  string,
  ValidateFunction
>;
const schemas: Record<string, TSchema> = {
  settings: AgentSettingsSchema,
  manifest: PackManifestSchema,
  ...DEFINITION_SCHEMAS,
};
const profiles = Object.keys(AJV_PROFILES) as AjvProfile[];
function both(profile: AjvProfile, schema: TSchema): { built: ValidateFunction; compiled: ValidateFunction } {
  const compiledSchema = compiledSchemaOf(profile, schema);
  const built = generated[validatorKey(profile, compiledSchema)];
  if (!built) throw new Error(`no generated ${profile} validator: run npm run build`);
  return { built, compiled: new Ajv(AJV_PROFILES[profile]).compile(compiledSchema) };
}

describe('validators generated at build time', () => {
  it('exist for every schema an agent start checks, as these sources define them', () => {
    for (const profile of profiles)
      START_SCHEMAS[profile].forEach((schema, index) =>
        expect(
          generated[validatorKey(profile, compiledSchemaOf(profile, schema))],
          `${profile} #${index}`,
        ).toBeTypeOf('function'),
      );
    // The settings among them, checked and filled.
    expect(START_SCHEMAS.check).toContain(AgentSettingsSchema);
    expect(START_SCHEMAS.fill).toContain(AgentSettingsSchema);
    // And every route's request body (`gossip join`, the local-token proof, ...): the six the
    // routes that main.ts loads declare.
    expect(REQUEST_BODY_SCHEMAS.length).toBeGreaterThanOrEqual(6);
    for (const schema of REQUEST_BODY_SCHEMAS) expect(START_SCHEMAS.filling).toContain(schema);
  });

  it('report the same errors as the schema compiled at run time', () => {
    const documents: Array<[string, unknown]> = [
      ['settings', { gossip: { port: 'six' }, log: { level: 'loud' }, not_a_setting: 1, api: { port: -1 } }],
      ['settings', { node_name: 7, seeds: 'a', kv: { replicas: 0, enabled: 'yes' } }],
      ['manifest', { name: 'bad name!', parameters: { 'x-y': 1 }, extra: true }],
      ['check', { interval: 'often', expression: 3, type: 'nope' }],
      ['detector', { apply_if: 1, groups: 'x' }],
      ['collector', { type: 'not-a-collector', interval: -5 }],
    ];
    for (const [name, document] of documents) {
      const { built, compiled } = both('check', schemas[name]!);
      expect(built(structuredClone(document)), name).toBe(false);
      compiled(structuredClone(document));
      expect(built.errors, name).toEqual(compiled.errors);
      expect(built.errors!.length, name).toBeGreaterThan(0);
    }
    // First errors only (schemaCheck): a check type's settings, a definition's body.
    for (const [name, schema, document] of [
      ['evaluated check', CHECK_TYPES.get('evaluated')!.schema, { critical_if: 3 }],
      ['check body', DEFINITION_SCHEMAS.check, { interval: [] }],
    ] as Array<[string, TSchema, unknown]>) {
      const { built, compiled } = both('plain', schema);
      expect(built(structuredClone(document)), name).toBe(compiled(structuredClone(document)));
      expect(built.errors, name).toEqual(compiled.errors);
      expect(built.errors?.length, name).toBeGreaterThan(0);
    }
  });

  it('fill the same defaults as the schema compiled at run time', () => {
    for (const [name, document] of [
      ['settings', {}],
      ['settings', { gossip: {}, kv: { replicas: 2 } }],
      ['manifest', { name: 'p' }],
    ] as Array<[string, Record<string, unknown>]>) {
      const { built, compiled } = both('fill', schemas[name]!);
      const viaBuilt = structuredClone(document);
      const viaCompiled = structuredClone(document);
      expect(built(viaBuilt), name).toBe(compiled(viaCompiled));
      expect(viaBuilt, name).toEqual(viaCompiled);
      expect(Object.keys(viaBuilt).length, name).toBeGreaterThan(Object.keys(document).length);
    }
  });
});
