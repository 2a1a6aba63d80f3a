// ${VAR} substitution in configuration strings: ${VAR}, ${VAR:-default}, and $${ for a literal ${.
// Done on parsed YAML scalars, not raw text, so an environment value can never change the
// document's structure, and error lines stay exact.

const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export type EnvLookup = (name: string) => string | undefined;

export class MissingEnvError extends Error {
  constructor(readonly variable: string) {
    super(`environment variable ${variable} is not set (use \${${variable}:-default} for a default)`);
  }
}

/** Returns the substituted text, or undefined when the text has no reference (the common case). */
export function substituteEnv(text: string, env: EnvLookup): string | undefined {
  if (!text.includes('${')) return undefined;
  return text.replace(REFERENCE, (whole, name: string | undefined, fallback: string | undefined) => {
    if (whole === '$${') return '${';
    const value = env(name!);
    if (value !== undefined && value !== '') return value;
    if (fallback !== undefined) return fallback;
    if (value === '') return '';
    throw new MissingEnvError(name!);
  });
}

/** True when the whole text is one reference, so the result may be typed (a number, a boolean). */
export function isSingleReference(text: string): boolean {
  return /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/.test(text.trim());
}
