// Secret values out of what a check says: its outputs, traces and errors, which reach history,
// the API, the CLI and gossip. Used for Vault's values and for AWS keys.

/** What a secret is replaced with. */
export const REDACTED = '***';

/**
 * A function that replaces every value (as it is, JSON-escaped and URL-encoded: the forms a
 * server or a type may echo it in) with REDACTED, the longest first.
 */
export function redactor(values: ReadonlyArray<string | undefined>): (text: string) => string {
  const forms = new Set<string>();
  for (const value of values) {
    if (!value) continue;
    forms.add(value);
    forms.add(JSON.stringify(value).slice(1, -1));
    forms.add(encodeURIComponent(value));
  }
  const ordered = [...forms].sort((a, b) => b.length - a.length);
  return (text) => ordered.reduce((out, form) => out.split(form).join(REDACTED), text);
}
