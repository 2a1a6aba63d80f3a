// OpenStack Keystone tokens for the http check (`keystone:`), as skypunch gets them: a password
// login (identity v2 `POST /tokens` or v3 `POST /auth/tokens`) scoped to a tenant/project, the
// token reused until shortly before it expires, sent as `X-Auth-Token`. A refused login is said
// plainly (`keystone login refused: HTTP 401 ...`), and so is each missing parameter, at load.

import { describeError } from './probe.js';

export interface KeystoneSettings {
  /** The identity endpoint, e.g. https://keystone.example.com:5000/v3 (or .../v2.0). */
  url: string;
  version: 2 | 3;
  username: string;
  password: string;
  /** v2 tenantName; v3 the project's name. */
  tenant: string;
  /** v3: the user's and the project's domain (default "Default"). */
  domain: string;
}

/** A token is renewed this long before Keystone says it expires (clocks drift, requests take time). */
const RENEW_BEFORE_MS = 60_000;
/** Without an expiry in the answer, a token is kept this long. */
const DEFAULT_LIFETIME_MS = 3_600_000;

export class KeystoneError extends Error {
  override readonly name = 'KeystoneError';
}

/** `keystone:` as written in a check, checked: every missing parameter named at once. */
export function keystoneSettings(raw: unknown): KeystoneSettings {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new KeystoneError('keystone: must be a mapping (url, version, username, password, tenant)');
  const given = raw as Record<string, unknown>;
  const missing = ['url', 'username', 'password', 'tenant'].filter(
    (key) => typeof given[key] !== 'string' || given[key] === '',
  );
  if (missing.length) throw new KeystoneError(`keystone: ${missing.join(', ')} missing (text)`);
  const version = given.version ?? 3;
  if (
    version !== 2 &&
    version !== 3 &&
    version !== '2' &&
    version !== '3' &&
    version !== 'v2' &&
    version !== 'v3'
  )
    throw new KeystoneError(`keystone: version ${JSON.stringify(version)}: 2 or 3`);
  try {
    new URL(given.url as string);
  } catch {
    throw new KeystoneError(`keystone: url ${JSON.stringify(given.url)} is not a URL`);
  }
  return {
    url: (given.url as string).replace(/\/+$/, ''),
    version: String(version).endsWith('2') ? 2 : 3,
    username: given.username as string,
    password: given.password as string,
    tenant: given.tenant as string,
    domain: typeof given.domain === 'string' && given.domain !== '' ? given.domain : 'Default',
  };
}

/** Logs in when it must, and hands out the token meanwhile. */
export class KeystoneSession {
  private token?: { id: string; renewAtMs: number };

  constructor(
    private readonly settings: KeystoneSettings,
    private readonly now: () => number = Date.now,
  ) {}

  /** A valid token: the kept one, or a new login. Throws KeystoneError saying what went wrong. */
  async tokenFor(signal: AbortSignal): Promise<string> {
    if (this.token && this.now() < this.token.renewAtMs) return this.token.id;
    this.token = undefined;
    const { id, expiresAtMs } = await this.login(signal);
    this.token = { id, renewAtMs: expiresAtMs - RENEW_BEFORE_MS };
    return id;
  }

  /** The service refused the token (401): the next run logs in again. */
  forget(): void {
    this.token = undefined;
  }

  private async login(signal: AbortSignal): Promise<{ id: string; expiresAtMs: number }> {
    const { url, version, username, password, tenant, domain } = this.settings;
    const endpoint = version === 2 ? `${url}/tokens` : `${url}/auth/tokens`;
    const body =
      version === 2
        ? { auth: { passwordCredentials: { username, password }, tenantName: tenant } }
        : {
            auth: {
              identity: {
                methods: ['password'],
                password: { user: { name: username, domain: { name: domain }, password } },
              },
              scope: { project: { name: tenant, domain: { name: domain } } },
            },
          };
    // undici is loaded with the first login, not at the agent's start.
    const { request } = await import('undici');
    let answer: Awaited<ReturnType<typeof request>>;
    try {
      answer = await request(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
        signal,
      });
    } catch (error) {
      throw new KeystoneError(`keystone ${endpoint}: ${describeError(error, signal)}`, { cause: error });
    }
    const text = await answer.body.text().catch(() => '');
    if (answer.statusCode < 200 || answer.statusCode > 299)
      throw new KeystoneError(
        `keystone login refused: HTTP ${answer.statusCode} from ${endpoint}${errorDetail(text)}`,
      );
    let parsed: Record<string, unknown> = {};
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // v3 may answer without a body we need; v2 cannot.
    }
    if (version === 2) {
      const token = (parsed.access as { token?: { id?: unknown; expires?: unknown } } | undefined)?.token;
      if (typeof token?.id !== 'string')
        throw new KeystoneError(`keystone ${endpoint}: no access.token.id in the answer`);
      return { id: token.id, expiresAtMs: expiry(token.expires, this.now()) };
    }
    const id = answer.headers['x-subject-token'];
    if (typeof id !== 'string' || id === '')
      throw new KeystoneError(`keystone ${endpoint}: no X-Subject-Token header in the answer`);
    const expires = (parsed.token as { expires_at?: unknown } | undefined)?.expires_at;
    return { id, expiresAtMs: expiry(expires, this.now()) };
  }
}

function expiry(text: unknown, nowMs: number): number {
  const parsed = typeof text === 'string' ? Date.parse(text) : NaN;
  return Number.isFinite(parsed) ? parsed : nowMs + DEFAULT_LIFETIME_MS;
}

/** Keystone's error message, when its answer has one: `: The request you have made requires authentication.` */
function errorDetail(text: string): string {
  try {
    const message = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
    return typeof message === 'string' ? `: ${message.slice(0, 200)}` : '';
  } catch {
    return '';
  }
}
