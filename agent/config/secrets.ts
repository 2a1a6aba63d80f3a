// Which configuration values are secrets, so that no message, log line or API answer repeats them.

/** Keys whose values are secrets (`password`, `auth.tokens[0]`, `encryption_key`, `api_key`...). */
const SECRET_KEY = /(^|[._])(tokens?|.*key|secret|password|passwd|credentials?)(\[|$)/i;

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/** What a hidden value is shown as. */
export const HIDDEN = '<hidden>';

/** A copy of `values` with every non-empty secret (by key name, at any depth) shown as HIDDEN. */
export function hideSecrets(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, hideValue(key, value)]));
}

function hideValue(key: string, value: unknown): unknown {
  if (isSecretKey(key)) return value === '' || value === null || value === undefined ? value : HIDDEN;
  if (Array.isArray(value)) return value.map((item) => hideValue('', item));
  if (value !== null && typeof value === 'object') return hideSecrets(value as Record<string, unknown>);
  return value;
}
