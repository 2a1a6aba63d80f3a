// The nginx collector: the stub_status page (ngx_http_stub_status_module) parsed into numbers, plus
// per-second rates of requests and accepted connections. fetch keeps the connection alive between runs.
import type { CollectedData, CollectorInstance, CollectorType, CollectContext } from '../collector.js';
import {
  CounterRates,
  displayUrl,
  fetchText,
  monotonicMs,
  splitUrlCredentials,
  startsWith,
  urlSetting,
} from './common.js';

const DEFAULT_URL = 'http://127.0.0.1/nginx_status';

/** What stub_status reports. */
export interface NginxStubStatus {
  active: number;
  accepts: number;
  handled: number;
  requests: number;
  reading: number;
  writing: number;
  waiting: number;
}

/**
 * Parses a stub_status page:
 * ```
 * Active connections: 2
 * server accepts handled requests
 *  10 10 20
 * Reading: 0 Writing: 1 Waiting: 1
 * ```
 * Returns undefined when the text is not one.
 */
export function parseStubStatus(text: string): NginxStubStatus | undefined {
  const active = /Active connections:\s*(\d+)/.exec(text);
  const totals = /server accepts handled requests[^\n]*\n\s*(\d+)\s+(\d+)\s+(\d+)/.exec(text);
  const states = /Reading:\s*(\d+)\s+Writing:\s*(\d+)\s+Waiting:\s*(\d+)/.exec(text);
  if (!active || !totals || !states) return undefined;
  return {
    active: Number(active[1]),
    accepts: Number(totals[1]),
    handled: Number(totals[2]),
    requests: Number(totals[3]),
    reading: Number(states[1]),
    writing: Number(states[2]),
    waiting: Number(states[3]),
  };
}

/** What a non-2xx answer means for a status page. */
function httpProblem(status: number, statusText: string): string {
  const http = `HTTP ${status} ${statusText}`;
  if (status === 401 || status === 403) {
    return `${http}: the location needs credentials (http://user:password@host/... in the url setting)`;
  }
  if (status === 404) return `${http} (is stub_status enabled at this location?)`;
  return http;
}

class NginxCollector implements CollectorInstance {
  private readonly rates = new CounterRates();
  private readonly label: string;
  /** The URL without credentials. */
  private readonly url: string;
  /** With the basic auth header made of the URL's credentials (stub_status behind auth_basic). */
  private readonly headers: Record<string, string>;

  constructor(url: string) {
    this.label = `nginx ${displayUrl(url)}`;
    const { url: withoutCredentials, authorization } = splitUrlCredentials(url);
    this.url = withoutCredentials;
    this.headers = { accept: 'text/plain', ...(authorization ? { authorization } : {}) };
  }

  async collect(context: CollectContext): Promise<CollectedData> {
    const text = await fetchText(this.url, {
      signal: context.signal,
      headers: this.headers,
      label: this.label,
      httpProblem,
    });
    const status = parseStubStatus(text);
    if (!status) throw new Error(`${this.label}: the page is not a stub_status page (${startsWith(text)})`);
    // stub_status has no uptime: the first run's rates are 0, the next ones are over the interval.
    const rates = this.rates.next(
      new Map([
        ['requests', status.requests],
        ['accepts', status.accepts],
        ['handled', status.handled],
      ]),
      undefined,
      monotonicMs(),
    );
    return {
      ...status,
      requests_s: rates.get('requests') ?? 0,
      accepts_s: rates.get('accepts') ?? 0,
      handled_s: rates.get('handled') ?? 0,
      dropped: status.accepts - status.handled,
    };
  }
}

export const nginxCollectorType: CollectorType = {
  type: 'nginx',
  description:
    'nginx stub_status: connections (active, reading, writing, waiting), accepts/handled/requests and rates',
  defaultSettings: { url: DEFAULT_URL },
  create: (settings) => new NginxCollector(urlSetting(settings, 'url', DEFAULT_URL)),
};
