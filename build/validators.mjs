// Generates the Ajv validators of the schemas every agent start checks (settings, pack manifests,
// definitions and their bodies, check types) as code, once, at build time: compiling them at
// start-up was ~0.5 s of CPU (agent/shared/precompiled-validators.ts reads the file). Runs on the
// compiled files, after tsc; writes dist/agent/shared/validators.generated.cjs, which
// build/bundle.mjs copies next to the bundle.
import { Ajv } from 'ajv';
import standalone from 'ajv/dist/standalone/index.js';
import { writeFileSync } from 'node:fs';
import {
  AJV_PROFILES,
  GENERATED_VALIDATORS_FILE,
  validatorKey,
} from '../dist/agent/shared/precompiled-validators.js';
import { compiledSchemaOf } from '../dist/agent/config/validate.js';
import { START_SCHEMAS } from '../dist/agent/main.js';

const parts = ['"use strict";'];
for (const profile of Object.keys(AJV_PROFILES)) {
  const ajv = new Ajv({ ...AJV_PROFILES[profile], code: { source: true } });
  const exported = {};
  for (const schema of START_SCHEMAS[profile]) {
    const compiled = compiledSchemaOf(profile, schema);
    const key = validatorKey(profile, compiled);
    if (key in exported) continue;
    ajv.addSchema(compiled, key);
    exported[key] = key;
  }
  // Each profile's code in a scope of its own: both name their functions validate10, schema11...
  parts.push(`(function () {\n${standalone.default(ajv, exported)}\n})();`);
}
const file = new URL(`../dist/agent/shared/${GENERATED_VALIDATORS_FILE}`, import.meta.url);
writeFileSync(file, parts.join('\n') + '\n');
