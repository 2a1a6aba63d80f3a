// Settings the benches read from their environment.

/** `$name` as a positive number (a whole one when `integer`), `fallback` when unset or empty. */
export function positiveEnv(name: string, fallback: number, integer = false): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!(value > 0) || (integer && !Number.isInteger(value)))
    throw new Error(`${name} must be a positive ${integer ? 'whole ' : ''}number, got ${raw}`);
  return value;
}
