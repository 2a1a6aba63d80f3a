// Reading secrets from HashiCorp Vault's KV secrets engine for checks (docs/checks-vault.md):
// version 2 `GET /v1/{mount}/data/{path}` (the values at .data.data) or version 1
// `GET /v1/{mount}/{path}` (at .data), with the X-Vault-Token header, through the service checks'
// HTTP probe (undici loaded at the first read, not at the agent's start). A secret read is kept for
// cache_ttl_s on the injected clock; reads of one path under way at once are one request. What
// fails is a VaultError whose message names the address, the secret and why, never the token.
import type { HttpProbe, ProbeResult } from '../http/probe.js';
import { serviceProbe } from '../http/service.js';
import { type CheckTime, SYSTEM_CHECK_TIME } from '../scheduler.js';
import { shownAddress, type VaultSettings } from './settings.js';
import { raceAbort } from '../../shared/abort.js';

/** Why a secret could not be read: the message is for the check's output (no secret in it). */
export class VaultError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VaultError';
  }
}

/** How long one request to Vault may take, whatever the runs waiting for it allow. */
const REQUEST_TIMEOUT_MS = 10_000;

/** Characters of Vault's own error words shown at most. */
const MAX_ERROR_TEXT = 200;

export interface VaultClientOptions {
  /** The clock of the cache (monotonic ms): the checks' time by default, the test's own in tests. */
  time?: Pick<CheckTime, 'monotonicNow'>;
}

type Secret = Readonly<Record<string, unknown>>;

/** One Vault server's KV secrets for the checks of this agent: shared by them, cached per path. */
export class VaultClient {
  /** The address as messages show it. */
  readonly address: string;
  private readonly cache = new Map<string, { secret: Secret; expiresAt: number }>();
  private readonly reading = new Map<string, Promise<Secret>>();
  /** A probe (a kept-alive connection) per secret path. */
  private readonly probes = new Map<string, HttpProbe>();
  private readonly time: Pick<CheckTime, 'monotonicNow'>;

  constructor(
    private readonly settings: VaultSettings,
    options: VaultClientOptions = {},
  ) {
    this.address = shownAddress(settings.address);
    this.time = options.time ?? SYSTEM_CHECK_TIME;
  }

  /** The secret read by a check without vault_path: (undefined: none configured). */
  get defaultPath(): string | undefined {
    return this.settings.path;
  }

  /** `secret/opsbro/checks`: a secret as messages name it (its mount and path). */
  describe(path: string): string {
    return `${this.settings.mount}/${path}`;
  }

  /**
   * The key-value pairs of the secret at `path` (under the mount): from the cache within its TTL,
   * else read. Throws VaultError, or the signal's reason when `signal` aborts first.
   */
  read(path: string, signal: AbortSignal): Promise<Secret> {
    const cached = this.cache.get(path);
    if (cached && this.time.monotonicNow() < cached.expiresAt) return Promise.resolve(cached.secret);
    let reading = this.reading.get(path);
    if (!reading) {
      reading = this.fetch(path).finally(() => this.reading.delete(path));
      this.reading.set(path, reading);
    }
    return raceAbort(reading, signal);
  }

  /** Lets the kept-alive connections go. */
  async close(): Promise<void> {
    const probes = [...this.probes.values()];
    this.probes.clear();
    await Promise.all(probes.map((probe) => probe.close().catch(() => undefined)));
  }

  private async fetch(path: string): Promise<Secret> {
    const apiPath = this.apiPath(path);
    let probe = this.probes.get(path);
    if (!probe) {
      const url = new URL(this.settings.address);
      url.pathname = apiPath;
      probe = serviceProbe({
        url,
        headers: { 'x-vault-token': this.settings.token },
        ...(this.settings.ca !== undefined ? { ca: this.settings.ca } : {}),
      });
      this.probes.set(path, probe);
    }
    // Its own deadline: the read may serve several checks' runs, none of whose aborts is its own.
    const probed = await probe.run(AbortSignal.timeout(REQUEST_TIMEOUT_MS));
    const secret = this.secretOf(path, apiPath, probed);
    if (this.settings.cacheTtlMs > 0)
      this.cache.set(path, { secret, expiresAt: this.time.monotonicNow() + this.settings.cacheTtlMs });
    return secret;
  }

  /** `/v1/secret/data/opsbro/checks` (v2) or `/v1/secret/opsbro/checks` (v1), under the address's path. */
  private apiPath(path: string): string {
    const segments = (text: string) => text.split('/').map(encodeURIComponent).join('/');
    const base = this.settings.address.pathname.replace(/\/+$/, '');
    const version = this.settings.kvVersion === 2 ? '/data' : '';
    return `${base}/v1/${segments(this.settings.mount)}${version}/${segments(path)}`;
  }

  /** The secret in Vault's answer, or the VaultError that says why there is none. */
  private secretOf(path: string, apiPath: string, probed: ProbeResult): Secret {
    const where = this.describe(path);
    const at = `Vault at ${this.address}`;
    const { kvVersion } = this.settings;
    if (probed.status === undefined)
      throw new VaultError(
        `cannot reach Vault at ${this.address} to read ${where}: ${probed.error ?? 'no response'}`,
      );
    const answer = parseJson(probed.body);
    const said = vaultWords(answer);
    const { status } = probed;
    if (status === 403)
      throw new VaultError(
        `${at} refused to read ${where}: ${said || 'permission denied'} (HTTP 403: the token is not allowed to read ${apiPath}, or has expired)`,
      );
    if (status === 404) {
      if (kvVersion === 2 && deleted(answer))
        throw new VaultError(`${at}: the latest version of ${where} is deleted (HTTP 404)`);
      throw new VaultError(
        `${at}: no secret at ${where} (HTTP 404 for ${apiPath}: is the path right, and the mount's KV version ${kvVersion}?)${said ? `: ${said}` : ''}`,
      );
    }
    if (status < 200 || status > 299)
      throw new VaultError(`${at} answered HTTP ${status} reading ${where}${said ? `: ${said}` : ''}`);
    if (probed.error !== undefined) throw new VaultError(`${at}: reading ${where}: ${probed.error}`);
    if (probed.truncated) throw new VaultError(`${at}: the answer for ${where} is too large`);
    if (answer === undefined) throw new VaultError(`${at}: the answer for ${where} is not JSON`);
    const data = isRecord(answer) ? answer.data : undefined;
    const secret = kvVersion === 2 ? (isRecord(data) ? data.data : undefined) : data;
    if (!isRecord(secret))
      throw new VaultError(
        `${at}: ${where} is not a KV version ${kvVersion} secret (no ${kvVersion === 2 ? 'data.data' : 'data'} mapping in the answer): is checks.vault.kv_version right?`,
      );
    return secret;
  }
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Vault's `errors` (and `warnings`) as one line: `permission denied`. */
function vaultWords(answer: unknown): string {
  if (!isRecord(answer)) return '';
  const words = [answer.errors, answer.warnings]
    .flatMap((list: unknown): unknown[] => (Array.isArray(list) ? (list as unknown[]) : []))
    .filter((item): item is string => typeof item === 'string')
    .map((item) =>
      item
        .replace(/\s+/g, ' ')
        .replace(/^\d+ errors? occurred: \* /, '')
        .trim(),
    )
    .filter(Boolean)
    .join('; ');
  return words.length > MAX_ERROR_TEXT ? `${words.slice(0, MAX_ERROR_TEXT)}…` : words;
}

/** A KV v2 404 for a secret whose latest version is deleted or destroyed carries its metadata. */
function deleted(answer: unknown): boolean {
  const data = isRecord(answer) ? answer.data : undefined;
  const metadata = isRecord(data) ? data.metadata : undefined;
  return isRecord(metadata) && (Boolean(metadata.deletion_time) || metadata.destroyed === true);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
