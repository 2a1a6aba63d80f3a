// `checks.vault` in agent.yml as the Vault client wants it: the address checked (no credentials
// in it: messages show it), the token read from token_file at load when it is given there, the
// TTL in milliseconds. A mistake is a config error naming the key, never quoting the token.
import { resolve } from 'node:path';
import type { AgentSettings } from '../../config/index.js';
import { BoundedReadError, readBoundedFile } from '../../config/bounded-read.js';

/** `checks.vault` as written (defaults filled by the loader). */
export type VaultSettingsInput = NonNullable<AgentSettings['checks']['vault']>;

/** Where secrets are read, resolved. */
export interface VaultSettings {
  /** e.g. http://127.0.0.1:8200 (a path prefix kept, when Vault sits behind a proxy under one). */
  address: URL;
  token: string;
  mount: string;
  /** The secret read by a check without vault_path: (undefined: each check must give one). */
  path?: string;
  kvVersion: 1 | 2;
  cacheTtlMs: number;
  /** PEM: the CA bundle to trust instead of the system's. */
  ca?: string;
}

/** A problem with `checks.vault.<key>`: the loader's caller makes it a config error. */
export class VaultSettingsError extends Error {
  constructor(
    /** The dotted key, e.g. checks.vault.token_file. */
    readonly key: string,
    message: string,
  ) {
    super(message);
    this.name = 'VaultSettingsError';
  }
}

/** A token is a few hundred bytes at most; a file much larger is not a token file. */
const MAX_TOKEN_FILE_BYTES = 64 * 1024;

/**
 * The settings resolved; undefined when `checks.vault` is absent. Throws VaultSettingsError.
 * `configDir`: token_file is relative to it.
 */
export function vaultSettings(
  input: VaultSettingsInput | undefined,
  configDir: string,
): VaultSettings | undefined {
  if (!input) return undefined;
  let address: URL;
  try {
    address = new URL(input.address);
  } catch {
    throw new VaultSettingsError('checks.vault.address', `${JSON.stringify(input.address)} is not a URL`);
  }
  if (address.protocol !== 'http:' && address.protocol !== 'https:')
    throw new VaultSettingsError('checks.vault.address', 'only http:// and https:// addresses');
  if (address.username || address.password)
    throw new VaultSettingsError(
      'checks.vault.address',
      'credentials in the address would be shown in messages; give the token in token: or token_file:',
    );
  if (address.search || address.hash)
    throw new VaultSettingsError('checks.vault.address', 'no query string or fragment: the server only');
  if (input.token && input.token_file)
    throw new VaultSettingsError('checks.vault.token_file', 'token: or token_file:, not both');
  const token = input.token_file ? readTokenFile(resolve(configDir, input.token_file)) : input.token;
  if (!token)
    throw new VaultSettingsError(
      'checks.vault.token',
      'a Vault token is required: token: or token_file: (a file holding it)',
    );
  // The token goes in a header: a line break in it would be a header of its own.
  if (/[\r\n\0]/.test(token))
    throw new VaultSettingsError(
      input.token_file ? 'checks.vault.token_file' : 'checks.vault.token',
      'the token holds a line break or a NUL character',
    );
  return {
    address,
    token,
    mount: input.mount,
    ...(input.path ? { path: input.path } : {}),
    kvVersion: input.kv_version,
    cacheTtlMs: Math.round(input.cache_ttl_s * 1000),
    ...(input.ca !== undefined ? { ca: input.ca } : {}),
  };
}

function readTokenFile(path: string): string {
  let text: string;
  try {
    // Bounded and regular files only, like the config files: a FIFO here must not hang the start.
    text = readBoundedFile(path, MAX_TOKEN_FILE_BYTES).toString('utf8');
  } catch (error) {
    if (!(error instanceof BoundedReadError)) throw error;
    throw new VaultSettingsError(
      'checks.vault.token_file',
      error.reason ? `cannot read ${path} (${error.reason})` : `${path} is ${error.problem}`,
    );
  }
  const token = text.trim();
  if (!token) throw new VaultSettingsError('checks.vault.token_file', `${path} is empty`);
  return token;
}

/** The address as messages show it: no trailing slash. */
export function shownAddress(address: URL): string {
  return `${address.origin}${address.pathname.replace(/\/+$/, '')}`;
}
