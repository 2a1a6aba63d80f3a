// The `collector:` definition (packs' collectors/*.yml or conf.d): which plugin, how often, where.
import { Type, type Static } from '@sinclair/typebox';
import { DurationSchema } from '../config/index.js';

/** The schema of a `collector:` body; `type` must be one of the registered plugins. */
export function collectorDefinitionSchema(typeNames: string[]) {
  return Type.Object(
    {
      /** Unique name; default: the file's base name. Metrics are `<name>.<path>`. */
      name: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]+$' })),
      /** The plugin: system, cpustats, redis, ... (`opsbro collectors list` shows the types). */
      type: Type.Union(typeNames.map((name) => Type.Literal(name))),
      interval: DurationSchema('10s'),
      /** A run longer than this is abandoned and shown as ERROR. Default: the interval, at most 10 s. */
      timeout: Type.Optional(DurationSchema()),
      /** Only where the node is in this group (set by a detector or agent.yml `groups:`). */
      if_group: Type.Optional(Type.String({ minLength: 1 })),
      enabled: Type.Boolean({ default: true }),
      /** The plugin's settings; strings may hold {parameters.NAME} from the pack's parameters. */
      settings: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]), {
        default: {},
      }),
    },
    { additionalProperties: false },
  );
}

export type CollectorDefinition = Omit<Static<ReturnType<typeof collectorDefinitionSchema>>, 'type'> & {
  type: string;
};

/**
 * Substitutes {parameters.NAME} in setting strings. A string that is one reference takes the
 * parameter's own type (a port stays a number). Unknown parameters are reported, not guessed.
 */
export function substituteParameters(
  settings: Readonly<Record<string, string | number | boolean>>,
  parameters: Readonly<Record<string, unknown>>,
): Record<string, string | number | boolean> {
  const result: Record<string, string | number | boolean> = {};
  const lookup = (name: string): string | number | boolean => {
    if (!Object.hasOwn(parameters, name)) throw new Error(`unknown pack parameter {parameters.${name}}`);
    const value = parameters[name];
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
    throw new Error(`pack parameter ${name} must be a string, number or boolean to be used in a setting`);
  };
  for (const [key, value] of Object.entries(settings)) {
    if (typeof value !== 'string') {
      result[key] = value;
      continue;
    }
    const whole = /^\{\{?parameters\.([A-Za-z0-9_]+)\}?\}$/.exec(value);
    result[key] = whole
      ? lookup(whole[1]!)
      : value.replace(/\{\{?parameters\.([A-Za-z0-9_]+)\}?\}/g, (_all, name: string) => String(lookup(name)));
  }
  return result;
}
