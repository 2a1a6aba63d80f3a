// A check's values from Vault (docs/checks-vault.md): `vault_<name>: <key>` in a check's body sets
// its `<name>` to the value of `<key>` in a Vault secret, read when the check runs. Any check type:
// the type's runner is made with those values, and made again only when one of them changed (the
// old one closed). Every value read is taken out of the run's outputs (`***`) before anything
// records them: no output, trace, history, API answer or log line carries a secret.
//
// At load the type judges the check with a stand-in for each value (rules.ts); a check that asks
// for Vault on an agent without Vault settings is refused there. Only text values are taken.
import { messageOf } from '../../shared/errors.js';
import { schemaCheck } from '../../shared/schema-check.js';
import type {
  CheckDependencies,
  CheckResult,
  CheckRunContext,
  CheckRunner,
  CheckSpec,
  CheckType,
} from '../check-type.js';
import { type VaultClient, VaultError } from './client.js';
import { redactor } from '../redact.js';

const PREFIX = 'vault_';
/** Not a value from Vault: the secret a check reads instead of checks.vault.path. */
const PATH_KEY = 'vault_path';
/** A secret's path under the mount: segments without a leading or trailing slash. */
const SECRET_PATH = /^[^/\s]+(\/[^/\s]+)*$/;

/** What stands for a value from Vault when the check is judged at load (no secret is read then). */
export const VAULT_STAND_IN = 'vault-secret';

/** One `vault_<name>: <key>`: the check's key it sets and the secret's key it reads. */
interface VaultValue {
  name: string;
  key: string;
}

/** The body's `vault_<name>:` keys; throws when one is not `vault_<name>: <key>`. */
export function vaultValues(body: Readonly<Record<string, unknown>>): VaultValue[] {
  const values: VaultValue[] = [];
  for (const [property, key] of Object.entries(body)) {
    if (!property.startsWith(PREFIX) || property === PATH_KEY) continue;
    const name = property.slice(PREFIX.length);
    if (!name)
      throw new Error(
        `${property}: say which key it sets: vault_<key>: <key of the Vault secret>, e.g. vault_password: db_password`,
      );
    if (typeof key !== 'string' || key === '')
      throw new Error(
        `${property}: expected the name of a key of the Vault secret, e.g. ${property}: db_password`,
      );
    if (name in body)
      throw new Error(
        `${name}: and ${property}: both given: ${property} sets ${name} from Vault, give one of them`,
      );
    values.push({ name, key });
  }
  return values;
}

/**
 * The body with a stand-in for each value from Vault: what the type's schema and create() judge at
 * load. A body with a malformed vault_ key is returned as it is (create() says what is wrong).
 */
export function withVaultStandIns(
  body: Readonly<Record<string, unknown>>,
): Readonly<Record<string, unknown>> {
  let values: VaultValue[];
  try {
    values = vaultValues(body);
  } catch {
    return body;
  }
  if (!values.length) return body;
  return { ...body, ...Object.fromEntries(values.map(({ name }) => [name, VAULT_STAND_IN])) };
}

/**
 * The check's runner: the type's own when the body has no vault_ key; else one that reads the
 * values from Vault at each run (cached by the client) and runs the type's runner made with them.
 * Throws, as create() does, what refuses the check: no Vault settings, a malformed vault_ key, or
 * the type's own refusal of the check with stand-ins for the values.
 */
export function withVaultSecrets(
  type: CheckType,
  spec: CheckSpec,
  dependencies: CheckDependencies,
): CheckRunner {
  const values = vaultValues(spec.body);
  const pathValue = spec.body[PATH_KEY];
  if (!values.length) {
    if (pathValue !== undefined)
      throw new Error(`${PATH_KEY}: no vault_<key>: reads from it (e.g. vault_password: db_password)`);
    return type.create(spec, dependencies);
  }
  const first = `${PREFIX}${values[0]!.name}`;
  const { vault } = dependencies;
  if (!vault)
    throw new Error(
      `${first}: reads a value from Vault, but the agent has no Vault settings: give checks.vault in agent.yml (address, token or token_file, path; docs/checks-vault.md)`,
    );
  if (pathValue !== undefined && (typeof pathValue !== 'string' || !SECRET_PATH.test(pathValue)))
    throw new Error(
      `${PATH_KEY}: expected a secret's path under the mount, such as opsbro/db (no leading or trailing /)`,
    );
  const path = pathValue ?? vault.defaultPath;
  if (path === undefined)
    throw new Error(`${first}: which Vault secret? give ${PATH_KEY}: (checks.vault.path is not set)`);
  // The type's verdict on the rest of the check, the values from Vault stood in for. What it says
  // of a key whose value comes from Vault (`url: "vault-secret" is not a URL`) is not about the
  // real value: that is judged when it is read, at each run.
  try {
    const judged = type.create({ ...spec, body: withVaultStandIns(spec.body) }, dependencies);
    void judged.close?.().catch(() => undefined);
  } catch (error) {
    const message = messageOf(error);
    if (!values.some(({ name }) => message.startsWith(`${name}:`))) throw error;
  }
  return new VaultValuesRunner(type, spec, dependencies, vault, path, values);
}

class VaultValuesRunner implements CheckRunner {
  /** The type's runner, made with these values. */
  private current?: { runner: CheckRunner; values: string[] };

  constructor(
    private readonly type: CheckType,
    private readonly spec: CheckSpec,
    private readonly dependencies: CheckDependencies,
    private readonly vault: VaultClient,
    private readonly path: string,
    private readonly wanted: readonly VaultValue[],
  ) {}

  async run(context: CheckRunContext): Promise<CheckResult> {
    let secret: Readonly<Record<string, unknown>>;
    try {
      secret = await this.vault.read(this.path, context.signal);
    } catch (error) {
      // Whether the checked thing is well cannot be known without its credentials.
      if (error instanceof VaultError) return unknown(error.message);
      throw error;
    }
    const values: string[] = [];
    for (const { name, key } of this.wanted) {
      const value = secret[key];
      const which = `the Vault secret ${this.vault.describe(this.path)} (at ${this.vault.address})`;
      if (value === undefined)
        return unknown(`${which} has no key ${JSON.stringify(key)} (for ${PREFIX}${name}:)`);
      if (typeof value !== 'string')
        return unknown(
          `${which}: key ${JSON.stringify(key)} holds ${kindOf(value)}, not text (for ${PREFIX}${name}:)`,
        );
      values.push(value);
    }
    const redact = redactor(values);
    const runner = this.runnerWith(values, redact);
    if ('state' in runner) return runner;
    try {
      return redactResult(await runner.run(context), redact);
    } catch (error) {
      if (context.signal.aborted) throw error;
      // The subsystem shows a throw's message as the output: without the values either.
      throw new Error(redact(messageOf(error)), { cause: error });
    }
  }

  async close(): Promise<void> {
    const current = this.current;
    this.current = undefined;
    await current?.runner.close?.();
  }

  /** The type's runner made with `values`: the one made last when they are the same. */
  private runnerWith(values: string[], redact: (text: string) => string): CheckRunner | CheckResult {
    const current = this.current;
    if (current && current.values.every((value, index) => value === values[index])) return current.runner;
    this.current = undefined;
    void current?.runner.close?.().catch(() => undefined);
    const body = {
      ...this.spec.body,
      ...Object.fromEntries(this.wanted.map(({ name }, index) => [name, values[index]])),
    };
    const check = schemaCheck(this.type.schema);
    if (!check(body))
      return unknown(`with the values read from Vault: ${this.type.type}: ${redact(check.problem())}`);
    let runner: CheckRunner;
    try {
      runner = this.type.create({ ...this.spec, body }, this.dependencies);
    } catch (error) {
      return unknown(`with the values read from Vault: ${redact(messageOf(error))}`);
    }
    this.current = { runner, values };
    return runner;
  }
}

function unknown(output: string): CheckResult {
  return { state: 'unknown', output, perfdata: [] };
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `a ${typeof value}`;
}

/** The result with the values out of its outputs and its perfdata's texts. */
function redactResult(result: CheckResult, redact: (text: string) => string): CheckResult {
  return {
    ...result,
    output: redact(result.output),
    ...(result.longOutput !== undefined ? { longOutput: redact(result.longOutput) } : {}),
    perfdata: result.perfdata.map((datum) => ({
      ...datum,
      label: redact(datum.label),
      ...(datum.warn !== undefined ? { warn: redact(datum.warn) } : {}),
      ...(datum.crit !== undefined ? { crit: redact(datum.crit) } : {}),
    })),
  };
}
