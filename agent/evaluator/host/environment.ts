// Which environment variables get_env may read. The agent's environment is where an operator puts
// secrets for its configuration (`encryption_key: ${OPSBRO_KEY}`, `token: ${GRAFANA_TOKEN}`) and
// where OPSBRO_TOKEN reaches the CLI, so nothing is readable unless evaluator.env_allow lists it,
// and names that look like secrets stay refused even when listed: a typo in a list must not
// publish a key to everyone who may evaluate an expression.

/** OPSBRO_* (the agent's and CLI's own) and any name that says token, secret, password, key... */
const SECRET_NAME = /^OPSBRO_|TOKEN|SECRET|PASSW|KEY|CREDENTIAL|AUTH|PRIVATE|COOKIE|SESSION/i;

/** Why get_env may not read `name`, or undefined when it may. */
export function envRefusal(name: string, allowList: readonly string[]): string | undefined {
  if (SECRET_NAME.test(name)) {
    return `${name} looks like it holds a secret (OPSBRO_*, or a name with TOKEN, SECRET, PASSWORD, KEY, AUTH...); it is never readable`;
  }
  if (!allowList.includes(name)) {
    const listed = allowList.length > 0 ? allowList.join(', ') : 'none';
    return `${name} is not in evaluator.env_allow (readable: ${listed})`;
  }
  return undefined;
}

/** The variable's value when it is set (own properties only: process.env inherits from Object.prototype). */
export function envValue(name: string): string | undefined {
  return Object.hasOwn(process.env, name) ? process.env[name] : undefined;
}
