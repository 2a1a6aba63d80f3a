// The `check:` definition (packs' checks/*.yml or conf.d): the keys every check has, whatever its
// type. The type's own keys (critical_if, script, ...) are checked against the type's schema by
// rules.ts once the type is known; any other key is the check's configuration ({configuration.…},
// $macro$), kept as written.
import { Type, type Static } from '@sinclair/typebox';
import { DurationSchema, parseDurationMs } from '../config/index.js';
import type { CheckType } from './check-type.js';

/** A check's name: in URLs (/monitoring/checks/NAME) and metric names (`<check>.<label>`). */
export const CHECK_NAME = /^[A-Za-z0-9_.-]+$/;

/** Nagios' default for services: a problem is confirmed (hard) by three non-OK results in a row. */
export const DEFAULT_MAX_ATTEMPTS = 3;

/** Members that run a placed check when `run_on` does not say. */
export const DEFAULT_REPLICAS = 3;

/** Retries while soft come this many times faster than the interval (Nagios: 5 min, retry 1 min). */
const RETRY_DIVISOR = 5;
const MIN_RETRY_INTERVAL_MS = 1000;

export const CheckDefinitionSchema = Type.Object(
  {
    /** Unique name; default: the file's base name. */
    name: Type.Optional(Type.String({ pattern: CHECK_NAME.source, description: 'letters, digits, _ . -' })),
    /** evaluated, script, ...; default: implied by a key only one type has (see checkTypeOf). */
    type: Type.Optional(Type.String({ minLength: 1 })),
    /** Shown instead of the name where people read it (handlers, the web page). */
    display_name: Type.Optional(Type.String({ minLength: 1 })),
    /** What the check means and what to do when it fails: for the operator who gets the alert. */
    notes: Type.Optional(Type.String()),
    interval: DurationSchema('60s'),
    /** While a problem is soft (not yet confirmed): default a fifth of the interval, at least 1 s. */
    retry_interval: Type.Optional(DurationSchema()),
    /** A run longer than this is stopped and gives UNKNOWN; may be longer than the interval. */
    timeout: DurationSchema('30s'),
    /** Non-OK results in a row that make a problem hard (and notify): Nagios' max_check_attempts. */
    max_attempts: Type.Integer({ minimum: 1, maximum: 100, default: DEFAULT_MAX_ATTEMPTS }),
    /** Only while the node is in this group (set by a detector or agent.yml `groups:`). */
    if_group: Type.Optional(Type.String({ minLength: 1 })),
    /**
     * Runs on `replicas` alive members of `group` chosen by rendezvous hashing on the check's name,
     * instead of on every node that holds the definition; its state is their quorum (placement.ts).
     */
    run_on: Type.Optional(
      Type.Object(
        {
          group: Type.String({ minLength: 1 }),
          replicas: Type.Integer({ minimum: 1, maximum: 64, default: DEFAULT_REPLICAS }),
          /** Results that must agree; default a majority of replicas. */
          quorum: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Handler names told of hard changes (the handlers come in a later issue). */
    handlers: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
    enabled: Type.Boolean({ default: true }),
  },
  // Thresholds, `mailq: {...}` and the type's own keys: the check's configuration.
  { additionalProperties: true },
);

export type CheckDefinition = Static<typeof CheckDefinitionSchema>;

/** The timing of a check in milliseconds, defaults applied. */
export interface CheckTiming {
  intervalMs: number;
  retryIntervalMs: number;
  timeoutMs: number;
}

export function checkTiming(body: CheckDefinition): CheckTiming {
  const intervalMs = parseDurationMs(body.interval);
  const retryIntervalMs =
    body.retry_interval === undefined
      ? Math.max(MIN_RETRY_INTERVAL_MS, Math.round(intervalMs / RETRY_DIVISOR))
      : parseDurationMs(body.retry_interval);
  return { intervalMs, retryIntervalMs, timeoutMs: parseDurationMs(body.timeout) };
}

/** The type a check's body asks for, or why none can be chosen (the rest of a config error). */
export type TypeChoice = { type: CheckType } | { problem: string; key: string };

/**
 * `type:` when given; else the one type implied by a key of the body (`script:` -> script,
 * `critical_if:` -> evaluated). No key, or keys of two types, is a problem naming the types.
 */
export function checkTypeOf(
  body: Readonly<Record<string, unknown>>,
  types: ReadonlyMap<string, CheckType>,
): TypeChoice {
  const known = () => [...types.keys()].sort().join(', ');
  if (typeof body.type === 'string') {
    const type = types.get(body.type);
    return type
      ? { type }
      : { key: 'type', problem: `unknown check type ${JSON.stringify(body.type)} (known: ${known()})` };
  }
  const implied = [...types.values()].filter((type) =>
    type.impliedBy?.some((key) => Object.hasOwn(body, key)),
  );
  if (implied.length === 1) return { type: implied[0]! };
  if (implied.length > 1) {
    const which = implied.map((type) => `${impliedKey(type, body)}: (${type.type})`).join(' and ');
    return { key: 'type', problem: `both ${which}: say which with type:` };
  }
  const hints = [...types.values()]
    .filter((type) => type.impliedBy?.length)
    .map((type) => `${type.impliedBy!.join(' or ')}: for ${type.type}`);
  return {
    key: 'type',
    problem: `no type: give type: (known: ${known()})${hints.length ? `, or ${hints.join(', ')}` : ''}`,
  };
}

function impliedKey(type: CheckType, body: Readonly<Record<string, unknown>>): string {
  return type.impliedBy!.find((key) => Object.hasOwn(body, key))!;
}
