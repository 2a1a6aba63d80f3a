// What the service checks built on HTTP APIs share (elasticsearch, kubernetes, ...): a probe of
// their own kept-alive connection, a JSON or text answer read, and one way to say a request failed.
import { HttpProbe, type ProbeOptions, type ProbeResult } from './probe.js';

export interface ServiceRequest {
  url: URL;
  headers?: Record<string, string>;
  ca?: string;
  cert?: string;
  key?: string;
  insecure?: boolean;
}

/** Bytes of an answer read at most, by default. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** A GET probe of `url` (no redirects: an API that redirects is misconfigured, and says so). */
export function serviceProbe(request: ServiceRequest): HttpProbe {
  return new HttpProbe({
    url: request.url,
    method: 'GET',
    headers: { 'user-agent': 'opsbro-check', accept: 'application/json', ...request.headers },
    followRedirects: false,
    maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
    tls: probeTls(request),
  });
}

/** A check's ca, cert, key and insecure keys as the probe's TLS options. */
export function probeTls(
  keys: Pick<ServiceRequest, 'ca' | 'cert' | 'key' | 'insecure'>,
): ProbeOptions['tls'] {
  return {
    rejectUnauthorized: !(keys.insecure ?? false),
    ...(keys.ca !== undefined ? { ca: keys.ca } : {}),
    ...(keys.cert !== undefined ? { cert: keys.cert } : {}),
    ...(keys.key !== undefined ? { key: keys.key } : {}),
  };
}

/**
 * A URL from a check's `url:`-like key (with `path` appended to its base when given), refusing
 * what cannot be requested or would show credentials in outputs (at load).
 */
export function serviceUrl(key: string, text: unknown, path = ''): URL {
  if (typeof text !== 'string' || text === '') throw new Error(`${key}: is required, e.g. https://host:port`);
  let url: URL;
  try {
    url = new URL(path ? text.replace(/\/+$/, '') + path : text);
  } catch {
    throw new Error(`${key}: ${JSON.stringify(text)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(`${key}: ${JSON.stringify(text)}: only http:// and https://`);
  if (url.username || url.password)
    throw new Error(`${key}: credentials in the URL would be shown in outputs; use username: and password:`);
  return url;
}

/** Why a request gave no usable answer, or undefined when it did (a status in 200-299). */
export function requestFailure(probed: ProbeResult, what: string): string | undefined {
  if (probed.status === undefined) return `${what}: ${probed.error ?? 'no response'}`;
  if (probed.status < 200 || probed.status > 299) {
    const detail = (probed.body ?? '').trim().split('\n')[0]?.slice(0, 200) ?? '';
    return `${what}: HTTP ${probed.status}${detail ? ` (${detail})` : ''}`;
  }
  return undefined;
}

/** Basic auth's header value. */
export function basicAuth(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}
