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

/**
 * An environment value that cannot go into a configuration value: a line break (or another
 * control character) would make a one-line value many, or end up in a log line as is. The value
 * is never quoted: it may be a secret.
 */
export class EnvValueError extends Error {
  constructor(readonly variable: string) {
    super(
      `environment variable ${variable} holds a line break or another control character: values from the environment must be one line`,
    );
  }
}

/** Control characters but tab. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/** Returns the substituted text, or undefined when the text has no reference (the common case). */
export function substituteEnv(text: string, env: EnvLookup): string | undefined {
  if (!text.includes('${')) return undefined;
  return text.replace(REFERENCE, (whole, name: string | undefined, fallback: string | undefined) => {
    if (whole === '$${') return '${';
    const value = env(name!);
    if (value !== undefined && CONTROL.test(value)) throw new EnvValueError(name!);
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
