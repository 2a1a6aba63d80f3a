// The `detector:` definition: a rule that puts this node in groups while it holds.
import { Type, type Static } from '@sinclair/typebox';
import { DurationSchema } from '../config/index.js';

export const DetectorDefinitionSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]+$' })),
    description: Type.Optional(Type.String()),
    interval: DurationSchema('10s'),
    /** An expression (docs/evaluator.md); true puts the node in `groups`. */
    apply_if: Type.String({
      minLength: 1,
      description: 'an expression such as "file_exists(\'/etc/redis\')"',
    }),
    /** Group names; may be templated from collector values: 'os-{collector.system.os.distribution}'. */
    groups: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
  },
  // A detector may carry its own values (thresholds, ...) for {configuration.…}.
  { additionalProperties: true },
);

export type DetectorDefinition = Static<typeof DetectorDefinitionSchema>;
