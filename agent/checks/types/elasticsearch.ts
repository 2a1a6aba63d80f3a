// The elasticsearch check (`type: elasticsearch`, uptimeserver's): the cluster's health from
// `GET /_cluster/health`: green OK, yellow WARNING (replicas unassigned), red CRITICAL (primaries
// unassigned: data missing); nodes and shards as perfdata. Basic auth when given.
import { Type, type Static } from '@sinclair/typebox';
import type {
  CheckResult,
  CheckRunContext,
  CheckRunner,
  CheckSpec,
  CheckType,
  PerfDatum,
} from '../check-type.js';
import type { HttpProbe } from '../http/probe.js';
import { basicAuth, requestFailure, serviceProbe, serviceUrl } from '../http/service.js';

export const ElasticsearchCheckSchema = Type.Object(
  {
    url: Type.String({ minLength: 1, description: 'the cluster, e.g. http://127.0.0.1:9200' }),
    username: Type.Optional(Type.String()),
    password: Type.Optional(Type.String()),
    ca: Type.Optional(Type.String({ description: 'PEM: the CA to trust' })),
    insecure: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: true },
);
type ElasticsearchBody = Static<typeof ElasticsearchCheckSchema>;

export const ELASTICSEARCH_CHECK_TYPE: CheckType = {
  type: 'elasticsearch',
  description: "an Elasticsearch cluster's health: green OK, yellow WARNING, red CRITICAL",
  schema: ElasticsearchCheckSchema,
  create: (spec) => new ElasticsearchRunner(spec),
};

interface ClusterHealth {
  cluster_name?: string;
  status?: string;
  number_of_nodes?: number;
  number_of_data_nodes?: number;
  active_shards?: number;
  relocating_shards?: number;
  initializing_shards?: number;
  unassigned_shards?: number;
  active_shards_percent_as_number?: number;
}

const NUMBERS: Array<[keyof ClusterHealth, string, string]> = [
  ['number_of_nodes', 'nodes', ''],
  ['number_of_data_nodes', 'data_nodes', ''],
  ['active_shards', 'active_shards', ''],
  ['relocating_shards', 'relocating_shards', ''],
  ['initializing_shards', 'initializing_shards', ''],
  ['unassigned_shards', 'unassigned_shards', ''],
  ['active_shards_percent_as_number', 'active_shards_percent', '%'],
];

class ElasticsearchRunner implements CheckRunner {
  private readonly probe: HttpProbe;
  private readonly url: URL;

  constructor(spec: CheckSpec) {
    const body = spec.body as ElasticsearchBody;
    this.url = serviceUrl('url', body.url, '/_cluster/health');
    if ((body.username === undefined) !== (body.password === undefined))
      throw new Error('username: and password: go together (basic auth)');
    this.probe = serviceProbe({
      url: this.url,
      ...(body.username !== undefined
        ? { headers: { authorization: basicAuth(body.username, body.password!) } }
        : {}),
      ...(body.ca !== undefined ? { ca: body.ca } : {}),
      ...(body.insecure !== undefined ? { insecure: body.insecure } : {}),
    });
  }

  async run(context: CheckRunContext): Promise<CheckResult> {
    const probed = await this.probe.run(context.signal);
    const where = `elasticsearch ${this.url.origin}`;
    const failure = requestFailure(probed, where);
    if (failure) return { state: 'critical', output: failure, perfdata: [] };
    let health: ClusterHealth;
    try {
      health = JSON.parse(probed.body ?? '') as ClusterHealth;
    } catch {
      return { state: 'unknown', output: `${where}: /_cluster/health did not answer JSON`, perfdata: [] };
    }
    const perfdata: PerfDatum[] = NUMBERS.flatMap(([key, label, uom]) =>
      typeof health[key] === 'number' ? [{ label, value: health[key], uom }] : [],
    );
    const name = health.cluster_name ? ` cluster "${health.cluster_name}"` : '';
    const summary = `${health.number_of_nodes ?? '?'} nodes, ${health.active_shards ?? '?'} active shards, ${health.unassigned_shards ?? '?'} unassigned`;
    switch (health.status) {
      case 'green':
        return { state: 'ok', output: `${where}${name} is green: ${summary}`, perfdata };
      case 'yellow':
        return {
          state: 'warning',
          output: `${where}${name} is yellow (replicas unassigned): ${summary}`,
          perfdata,
        };
      case 'red':
        return {
          state: 'critical',
          output: `${where}${name} is red (primary shards unassigned): ${summary}`,
          perfdata,
        };
      default:
        return {
          state: 'unknown',
          output: `${where}${name}: unknown health status ${JSON.stringify(health.status ?? null)}`,
          perfdata,
        };
    }
  }

  close(): Promise<void> {
    return this.probe.close();
  }
}
