// What the application collectors share: reading their settings, counter rates between runs,
// fetching a status page under the run's signal (the scheduler aborts it at the run's timeout), and
// turning socket/driver failures into messages an operator can act on ("redis 127.0.0.1:6379:
// connection refused"), never with a password.
import { formatBytes } from '../../shared/format.js';
import { abortReason } from '../../shared/abort.js';

// Shared with the service checks; kept importable from here for the collectors.
export { abortReason, raceAbort } from '../../shared/abort.js';

type Settings = Readonly<Record<string, string | number | boolean>>;

/** A string setting; numbers are accepted as written (a port given as a string, a password of digits). */
export function stringSetting(settings: Settings, key: string, fallback: string): string {
  const value = settings[key];
  return value === undefined ? fallback : String(value);
}

/** A TCP port setting, validated so a typo fails at create() with the setting's name. */
export function portSetting(settings: Settings, key: string, fallback: number): number {
  const value = settings[key] ?? fallback;
  const port = typeof value === 'number' ? value : Number(String(value).trim());
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`setting ${key}: ${JSON.stringify(value)} is not a TCP port (1-65535)`);
  }
  return port;
}

/** A URL setting, validated so a typo fails at create() with the setting's name (shown without credentials). */
export function urlSetting(settings: Settings, key: string, fallback: string): string {
  const url = stringSetting(settings, key, fallback);
  try {
    new URL(url);
  } catch {
    throw new Error(`setting ${key}: ${JSON.stringify(displayUrl(url))} is not a URL`);
  }
  return url;
}

/** Rounds to 3 decimals: rates and latencies, without float noise in the metrics. */
export function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/**
 * Per-second rates of monotonic counters against the previous run. The first run has no previous
 * sample: its rates are since the server started (counter / uptime) when the server reports its
 * uptime, else 0, so every key exists from the first run. A counter that went down means the server
 * restarted: it counted up from 0 since, so its current value is the increase.
 */
export class CounterRates {
  private previous: { atMs: number; counters: ReadonlyMap<string, number> } | undefined;

  /**
   * `uptimeSeconds` is the server's (undefined when it does not report one); `nowMs` a monotonic clock.
   * Returns one rate per counter, same keys.
   */
  next(
    counters: ReadonlyMap<string, number>,
    uptimeSeconds: number | undefined,
    nowMs: number,
  ): Map<string, number> {
    const base = this.previous;
    const elapsedSeconds = base ? (nowMs - base.atMs) / 1000 : undefined;
    // A restart between runs (uptime shorter than the interval) makes the uptime the better base;
    // servers report whole seconds, hence the 1 s of slack.
    const restarted =
      uptimeSeconds !== undefined && elapsedSeconds !== undefined && uptimeSeconds + 1 < elapsedSeconds;
    const rates = new Map<string, number>();
    for (const [key, value] of counters) {
      const before = base?.counters.get(key);
      if (before === undefined || elapsedSeconds === undefined || restarted) {
        rates.set(key, uptimeSeconds && uptimeSeconds > 0 ? round3(value / uptimeSeconds) : 0);
      } else if (elapsedSeconds > 0) {
        rates.set(key, round3((value >= before ? value - before : value) / elapsedSeconds));
      } else {
        rates.set(key, 0);
      }
    }
    this.previous = { atMs: nowMs, counters };
    return rates;
  }
}

/** A monotonic clock in ms (rates must not jump with the wall clock). */
export function monotonicMs(): number {
  return performance.now();
}

const ERRNO_PHRASES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused (is the server running and listening there?)',
  ECONNRESET: 'connection reset by the server',
  EPIPE: 'connection closed by the server',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed (temporary)',
  ENOENT: 'no such socket file',
  EACCES: 'permission denied',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed by the server',
};

/** The operator phrase for an errno code (ECONNREFUSED ...), undefined for codes without one. */
export function errnoPhrase(code: string): string | undefined {
  return ERRNO_PHRASES[code];
}

/**
 * A short operator phrase for an error: the phrase of the first errno code along its cause chain
 * (socket errors), else its own message; fetch's bare "fetch failed" gives way to its cause's.
 */
export function describeNetworkError(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    if (code && ERRNO_PHRASES[code]) return ERRNO_PHRASES[code];
    current = current.cause;
  }
  if (!(error instanceof Error)) return String(error);
  if (error.message === 'fetch failed' && error.cause instanceof Error)
    return describeNetworkError(error.cause);
  return error.message || error.name;
}

/**
 * The largest answer body an application collector reads: a status page is a few hundred bytes,
 * RabbitMQ's /api/overview a few KiB. A server that sends more (an endless body, a download at the
 * wrong URL) ends the run with an error at this bound instead of growing the agent.
 */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * GETs `url` under `signal` and returns its body, at most `maxBodyBytes` (default 1 MiB). Any
 * failure throws `<label>: <phrase>`: the abort reason when `signal` aborted, else the network
 * phrase, `httpProblem(status, statusText)` for a non-2xx answer, or a body too large; `secrets` are
 * redacted from the phrase.
 */
export async function fetchText(
  url: string,
  {
    signal,
    headers,
    label,
    httpProblem,
    secrets = [],
    maxBodyBytes = MAX_BODY_BYTES,
  }: {
    signal: AbortSignal;
    headers: Record<string, string>;
    label: string;
    httpProblem: (status: number, statusText: string) => string;
    secrets?: readonly string[];
    maxBodyBytes?: number;
  },
): Promise<string> {
  try {
    const response = await fetch(url, { signal, headers });
    if (!response.ok) {
      // The body of an error page is not read at all.
      await response.body?.cancel().catch(() => undefined);
      throw new Error(httpProblem(response.status, response.statusText));
    }
    return await readBodyBounded(response, maxBodyBytes);
  } catch (error) {
    const message = signal.aborted ? abortReason(signal) : describeNetworkError(error);
    throw new Error(`${label}: ${redact(message, secrets)}`, { cause: error });
  }
}

/** The body as UTF-8 text; throws past `maxBytes` (announced or received), having stopped reading. */
async function readBodyBounded(response: Response, maxBytes: number): Promise<string> {
  const tooLarge = (what: string) =>
    new Error(
      `the answer is larger than ${formatBytes(maxBytes)} (${what}): is the url that of the status page?`,
    );
  const announced = Number(response.headers.get('content-length') ?? NaN);
  if (announced > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw tooLarge(`content-length ${announced}`);
  }
  if (!response.body) return '';
  const reader = response.body.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  const chunks: Uint8Array[] = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    received += value.byteLength;
    if (received > maxBytes) {
      // Cancelling closes the connection: the server stops sending, nothing more is buffered.
      await reader.cancel().catch(() => undefined);
      throw tooLarge('stopped reading there');
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** How an unexpected answer is shown in a message: `starts with "<its first 60 characters>"`. */
export function startsWith(body: string): string {
  return `starts with ${JSON.stringify(body.slice(0, 60))}`;
}

/** Removes every occurrence of `secrets` (non-empty) from a message, so no password reaches a log. */
export function redact(message: string, secrets: readonly string[]): string {
  let out = message;
  for (const secret of secrets) {
    if (secret) out = out.split(secret).join('***');
  }
  return out;
}

/** A URL as shown in messages: without user:password. */
export function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/[^/@]*@/, '//');
  }
}

/** A finite number from a JSON/driver value, else undefined. */
export function finiteNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(value.trim())) return Number(value);
  return undefined;
}

/** `keys` of a JSON/driver object as numbers (`toNumber` of each value, 0 when it gives none). */
export function numbersOf(
  source: unknown,
  keys: readonly string[],
  toNumber: (value: unknown) => number | undefined = finiteNumber,
): Record<string, number> {
  const record = asRecord(source);
  const out: Record<string, number> = {};
  for (const key of keys) out[key] = toNumber(record?.[key]) ?? 0;
  return out;
}

/** A plain JSON object (not an array), else undefined: parsing at the edge without `any`. */
export function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/**
 * fetch refuses URLs that carry user:password: moves them into a basic Authorization header.
 * Returns the URL to fetch and the header (undefined without credentials).
 */
export function splitUrlCredentials(url: string): { url: string; authorization?: string } {
  const parsed = new URL(url);
  if (!parsed.username && !parsed.password) return { url };
  const user = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.toString(), authorization: basicAuthorization(user, password) };
}

/** The value of a basic Authorization header. */
export function basicAuthorization(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}
