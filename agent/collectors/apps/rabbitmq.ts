// The rabbitmq collector: GET /api/overview of the management plugin (basic auth): versions, object
// and queue totals, and the message rates the broker computes itself (publish_details.rate, ...).
import type {
  CollectedData,
  CollectedValue,
  CollectorInstance,
  CollectorType,
  CollectContext,
} from '../collector.js';
import {
  asRecord,
  basicAuthorization,
  displayUrl,
  fetchText,
  finiteNumber,
  numbersOf,
  splitUrlCredentials,
  startsWith,
  stringSetting,
  urlSetting,
} from './common.js';

const DEFAULTS = { url: 'http://127.0.0.1:15672', user: 'guest', password: 'guest' } as const;

const OBJECT_TOTALS = ['connections', 'channels', 'exchanges', 'queues', 'consumers'] as const;
const QUEUE_TOTALS = ['messages', 'messages_ready', 'messages_unacknowledged'] as const;
/** message_stats counters; each also gives `<name>_s` from `<name>_details.rate` (per second). */
const MESSAGE_STATS = [
  'publish',
  'confirm',
  'deliver_get',
  'deliver',
  'deliver_no_ack',
  'get',
  'get_no_ack',
  'ack',
  'redeliver',
  'return_unroutable',
  'drop_unroutable',
  'disk_reads',
  'disk_writes',
] as const;

/**
 * Maps the /api/overview document to the collector's data. Totals a fresh broker leaves out
 * (`queue_totals: {}` until a queue exists, `message_stats: {}` until a message moves) read as 0,
 * so every key exists from the first run.
 */
export function shapeOverview(overview: Record<string, unknown>): CollectedData {
  const stats = asRecord(overview.message_stats);
  const messageStats: Record<string, CollectedValue> = {};
  for (const name of MESSAGE_STATS) {
    messageStats[name] = finiteNumber(stats?.[name]) ?? 0;
    messageStats[`${name}_s`] = finiteNumber(asRecord(stats?.[`${name}_details`])?.rate) ?? 0;
  }
  const text = (key: string): string => (typeof overview[key] === 'string' ? overview[key] : '');
  return {
    version: text('rabbitmq_version') || text('product_version'),
    erlang_version: text('erlang_version'),
    management_version: text('management_version'),
    cluster_name: text('cluster_name'),
    node: text('node'),
    object_totals: numbersOf(overview.object_totals, OBJECT_TOTALS),
    queue_totals: numbersOf(overview.queue_totals, QUEUE_TOTALS),
    message_stats: messageStats,
  };
}

class RabbitmqCollector implements CollectorInstance {
  private readonly label: string;
  private readonly overviewUrl: string;
  private readonly headers: { authorization: string };

  constructor(
    baseUrl: string,
    private readonly user: string,
    private readonly password: string,
  ) {
    const { url, authorization } = splitUrlCredentials(
      new URL('api/overview', withSlash(baseUrl)).toString(),
    );
    this.overviewUrl = url;
    // Credentials in the URL win over the settings: the operator wrote them where they are used.
    this.headers = { authorization: authorization ?? basicAuthorization(user, password) };
    this.label = `rabbitmq ${displayUrl(url)}`;
  }

  async collect(context: CollectContext): Promise<CollectedData> {
    const body = await fetchText(this.overviewUrl, {
      signal: context.signal,
      headers: this.headers,
      label: this.label,
      httpProblem: (status, statusText) => this.httpProblem(status, statusText),
      secrets: [this.password],
    });
    let overview: Record<string, unknown> | undefined;
    try {
      overview = asRecord(JSON.parse(body));
    } catch {
      overview = undefined;
    }
    if (!overview) {
      throw new Error(`${this.label}: the answer is not the management API's JSON (${startsWith(body)})`);
    }
    return shapeOverview(overview);
  }

  /** What a non-2xx answer of the management API means. */
  private httpProblem(status: number, statusText: string): string {
    if (status === 401 || status === 403) {
      return (
        `authentication failed for user '${this.user}' (HTTP ${status}): check the user and password settings` +
        ' (the guest user only logs in from localhost)'
      );
    }
    if (status === 404) {
      return 'HTTP 404: no management API here (is the rabbitmq_management plugin enabled on this port?)';
    }
    return `HTTP ${status} ${statusText}`;
  }
}

function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

export const rabbitmqCollectorType: CollectorType = {
  type: 'rabbitmq',
  description: 'RabbitMQ management /api/overview: versions, object and queue totals, message rates',
  defaultSettings: DEFAULTS,
  create: (settings) =>
    new RabbitmqCollector(
      urlSetting(settings, 'url', DEFAULTS.url),
      stringSetting(settings, 'user', DEFAULTS.user),
      stringSetting(settings, 'password', DEFAULTS.password),
    ),
};
