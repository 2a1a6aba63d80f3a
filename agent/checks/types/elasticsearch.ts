// The elasticsearch check (`type: elasticsearch`, uptimeserver's): the cluster's health from
// `GET /_cluster/health`: green OK, yellow WARNING (replicas unassigned), red CRITICAL (primaries
// unassigned: data missing); nodes and shards as perfdata. Basic auth when given, or AWS SigV4
// (`aws_region`: Amazon OpenSearch Service / Elasticsearch Service), each request signed anew.
import { Type, type Static } from '@sinclair/typebox';
import type {
  CheckResult,
  CheckRunContext,
  CheckRunner,
  CheckSpec,
  CheckType,
  PerfDatum,
} from '../check-type.js';
import { AWS_REGION, awsCredentials, awsSignedHeaders, type AwsCredentials } from '../http/aws-sigv4.js';
import type { HttpProbe } from '../http/probe.js';
import { basicAuth, requestFailure, serviceProbe, serviceUrl } from '../http/service.js';
import { redactor } from '../redact.js';

export const ElasticsearchCheckSchema = Type.Object(
  {
    url: Type.String({ minLength: 1, description: 'the cluster, e.g. http://127.0.0.1:9200' }),
    username: Type.Optional(Type.String()),
    password: Type.Optional(Type.String()),
    ca: Type.Optional(Type.String({ description: 'PEM: the CA to trust' })),
    insecure: Type.Optional(Type.Boolean()),
    aws_region: Type.Optional(
      Type.String({ minLength: 1, description: 'signs each request with AWS SigV4 for this region' }),
    ),
    aws_access_key_id: Type.Optional(Type.String({ minLength: 1 })),
    aws_secret_access_key: Type.Optional(Type.String({ minLength: 1 })),
    aws_session_token: Type.Optional(Type.String({ minLength: 1 })),
    aws_service: Type.Optional(
      Type.String({ minLength: 1, description: "the service signed for, default es (OpenSearch's too)" }),
    ),
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

/** Signs requests for Amazon OpenSearch Service (Elasticsearch Service). */
interface AwsSigning {
  region: string;
  service: string;
  credentials: AwsCredentials;
}

const AWS_KEYS = ['aws_access_key_id', 'aws_secret_access_key', 'aws_session_token', 'aws_service'] as const;

class ElasticsearchRunner implements CheckRunner {
  private readonly probe: HttpProbe;
  private readonly url: URL;
  private readonly aws?: AwsSigning;

  constructor(spec: CheckSpec) {
    const body = spec.body as ElasticsearchBody;
    this.url = serviceUrl('url', body.url, '/_cluster/health');
    if ((body.username === undefined) !== (body.password === undefined))
      throw new Error('username: and password: go together (basic auth)');
    this.aws = awsSigningOf(body);
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
    const where = `elasticsearch ${this.url.origin}`;
    const aws = this.aws;
    const signature = aws
      ? await awsSignedHeaders(
          { url: this.url, method: 'GET', service: aws.service, region: aws.region },
          aws.credentials,
        )
      : {};
    const probed = await this.probe.run(context.signal, signature);
    const failure = requestFailure(probed, where);
    if (failure && aws) {
      const said = redactor([aws.credentials.secretAccessKey, aws.credentials.sessionToken])(failure);
      // Refused: whether the cluster is up cannot be told.
      if (probed.status === 401 || probed.status === 403)
        return {
          state: 'unknown',
          output: `${said}: AWS refused the signed request (wrong aws_access_key_id or aws_secret_access_key, aws_region ${aws.region} or aws_service ${aws.service} not the domain's, or no ${aws.service}:ESHttpGet permission)`,
          perfdata: [],
        };
      return { state: 'critical', output: said, perfdata: [] };
    }
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

/** SigV4 signing, when `aws_region` asks for it; the AWS keys without it, or beside basic auth, are refused. */
function awsSigningOf(body: ElasticsearchBody): AwsSigning | undefined {
  if (body.aws_region === undefined) {
    const stray = AWS_KEYS.find((key) => body[key] !== undefined);
    if (stray) throw new Error(`${stray}: signs with AWS SigV4, which needs aws_region: (e.g. eu-west-1)`);
    return undefined;
  }
  if (body.username !== undefined)
    throw new Error(
      'username:/password: (basic auth) and aws_region: (AWS SigV4) exclude each other: give one way to log in',
    );
  if (!AWS_REGION.test(body.aws_region))
    throw new Error(`aws_region: ${JSON.stringify(body.aws_region)} is not a region (e.g. eu-west-1)`);
  const service = body.aws_service ?? 'es';
  if (!/^[a-z0-9-]+$/.test(service))
    throw new Error(`aws_service: ${JSON.stringify(service)} is not a service name (e.g. es)`);
  const credentials = awsCredentials({
    ...(body.aws_access_key_id !== undefined ? { accessKeyId: body.aws_access_key_id } : {}),
    ...(body.aws_secret_access_key !== undefined ? { secretAccessKey: body.aws_secret_access_key } : {}),
    ...(body.aws_session_token !== undefined ? { sessionToken: body.aws_session_token } : {}),
    names: { accessKeyId: 'aws_access_key_id', secretAccessKey: 'aws_secret_access_key' },
  });
  return { region: body.aws_region, service, credentials };
}
