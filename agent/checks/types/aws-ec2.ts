// The aws_ec2 check (`type: aws_ec2`, Platus'): DescribeInstances in a region, for
// `ec2_instance_ids` and/or `ec2_filters`, every page; one item per instance (running OK; pending,
// stopping WARNING; stopped, shutting-down, terminated CRITICAL; named from its Name tag, else its
// id), as Platus reports one service per instance, the same lines in the long output, and the worst
// of them as the check's state.
//
// The client, chosen on purpose: the EC2 Query API is one signed form POST and an XML answer, so a
// SigV4 signer (`aws4`: one file, no dependencies, the signer `request` used for years) and undici
// do it; the AWS SDK v3 EC2 client would bring ~60 packages and tens of MiB of heap into an agent
// that runs on every machine (issue 17, footprint). Signing is checked against AWS's published
// SigV4 examples and against botocore's own signer in the tests.
import { Type, type Static } from '@sinclair/typebox';
import type { XMLParser } from 'fast-xml-parser';
import type {
  CheckItem,
  CheckResult,
  CheckRunContext,
  CheckRunner,
  CheckSpec,
  CheckState,
  CheckType,
} from '../check-type.js';
import { AWS_REGION, awsSignedHeaders, type AwsCredentials } from '../http/aws-sigv4.js';
import { describeError } from '../http/probe.js';

export const AwsEc2CheckSchema = Type.Object(
  {
    region: Type.String({ minLength: 1, description: 'e.g. eu-west-1' }),
    ec2_instance_ids: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    ec2_filters: Type.Optional(
      Type.Record(Type.String(), Type.Union([Type.String(), Type.Array(Type.String())]), {
        description: 'DescribeInstances filters: {"tag:role": web, "instance-type": [t3.small, t3.medium]}',
      }),
    ),
    access_key_id: Type.Optional(Type.String()),
    secret_access_key: Type.Optional(Type.String()),
    session_token: Type.Optional(Type.String()),
    endpoint: Type.Optional(
      Type.String({ description: 'an EC2-compatible API, default https://ec2.REGION.amazonaws.com' }),
    ),
  },
  { additionalProperties: true },
);
type AwsEc2Body = Static<typeof AwsEc2CheckSchema>;

export const AWS_EC2_CHECK_TYPE: CheckType = {
  type: 'aws_ec2',
  description:
    "EC2 instances' states (DescribeInstances): running OK, pending/stopping WARNING, stopped CRITICAL",
  schema: AwsEc2CheckSchema,
  create: (spec) => new AwsEc2Runner(spec),
};

const API_VERSION = '2016-11-15';
/** Pages read at most (1,000 instances each): a bound on what one answer may make us hold. */
const MAX_PAGES = 50;
const STATE_OF: Record<string, CheckState> = {
  running: 'ok',
  pending: 'warning',
  stopping: 'warning',
  stopped: 'critical',
  'shutting-down': 'critical',
  terminated: 'critical',
};
const SEVERITY: Record<CheckState, number> = { ok: 0, warning: 1, unknown: 2, critical: 3 };

interface Instance {
  id: string;
  state: string;
  name?: string;
  /** t3.small ... */
  type?: string;
  /** eu-west-1a ... */
  zone?: string;
}

class AwsEc2Runner implements CheckRunner {
  private readonly endpoint: URL;
  private readonly credentials: AwsCredentials;
  private readonly parameters: Array<[string, string]>;
  /** Made at the first run: the signer and the XML parser are loaded then, not at the agent's start. */
  private xml?: XMLParser;

  constructor(private readonly spec: CheckSpec) {
    const body = spec.body as AwsEc2Body;
    if (!AWS_REGION.test(body.region))
      throw new Error(`region: ${JSON.stringify(body.region)} is not a region (e.g. eu-west-1)`);
    const endpointText = body.endpoint ?? `https://ec2.${body.region}.amazonaws.com/`;
    try {
      this.endpoint = new URL(endpointText);
    } catch {
      throw new Error(`endpoint: ${JSON.stringify(endpointText)} is not a URL`);
    }
    const accessKeyId = body.access_key_id ?? process.env.AWS_ACCESS_KEY_ID;
    const secretAccessKey = body.secret_access_key ?? process.env.AWS_SECRET_ACCESS_KEY;
    if (!accessKeyId || !secretAccessKey)
      throw new Error(
        "access_key_id: and secret_access_key: are required (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the agent's environment)",
      );
    const sessionToken =
      body.session_token ?? (body.access_key_id === undefined ? process.env.AWS_SESSION_TOKEN : undefined);
    this.credentials = { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
    if (!body.ec2_instance_ids?.length && !Object.keys(body.ec2_filters ?? {}).length)
      throw new Error('ec2_instance_ids: or ec2_filters: is required (which instances to watch)');
    this.parameters = queryParameters(body);
  }

  async run(context: CheckRunContext): Promise<CheckResult> {
    const body = this.spec.body as AwsEc2Body;
    const instances: Instance[] = [];
    let nextToken: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      let answer: { instances: Instance[]; nextToken?: string };
      try {
        answer = await this.describe(nextToken, body.region, context.signal);
      } catch (error) {
        return {
          state: 'critical',
          output: `aws_ec2 ${body.region}: ${(error as Error).message}`,
          perfdata: [],
        };
      }
      instances.push(...answer.instances);
      nextToken = answer.nextToken;
      if (!nextToken) break;
    }
    if (instances.length === 0)
      return { state: 'critical', output: `aws_ec2 ${body.region}: no instance matches`, perfdata: [] };
    let worst: CheckState = 'ok';
    const items = instances.map((instance): CheckItem => {
      const state = STATE_OF[instance.state] ?? 'unknown';
      if (SEVERITY[state] > SEVERITY[worst]) worst = state;
      return {
        name: instance.name ?? instance.id,
        ...(instance.name ? { id: instance.id } : {}),
        state,
        output: `${instance.id} is ${instance.state}${instance.type ? `, ${instance.type}` : ''}${instance.zone ? ` in ${instance.zone}` : ''}`,
      };
    });
    const lines = instances.map(
      (instance, index) =>
        `${items[index]!.state.toUpperCase()}: ${instance.name ? `${instance.name} (${instance.id})` : instance.id} is ${instance.state}`,
    );
    const running = instances.filter((instance) => instance.state === 'running').length;
    const notRunning = instances
      .filter((instance) => instance.state !== 'running')
      .map((instance) => `${instance.name ?? instance.id} ${instance.state}`);
    return {
      state: worst,
      output: `aws_ec2 ${body.region}: ${running} of ${instances.length} instances running${notRunning.length ? `; ${notRunning.join(', ')}` : ''}`,
      longOutput: lines.join('\n'),
      items,
      perfdata: [
        { label: 'instances', value: instances.length, uom: '' },
        { label: 'running', value: running, uom: '' },
      ],
    };
  }

  /** One signed DescribeInstances page. */
  private async describe(
    nextToken: string | undefined,
    region: string,
    signal: AbortSignal,
  ): Promise<{ instances: Instance[]; nextToken?: string }> {
    const form = new URLSearchParams([
      ['Action', 'DescribeInstances'],
      ['Version', API_VERSION],
      ...this.parameters,
      ...(nextToken ? [['NextToken', nextToken] as [string, string]] : []),
    ]).toString();
    const { request } = await import('undici');
    if (!this.xml) {
      const { XMLParser } = await import('fast-xml-parser');
      this.xml = new XMLParser({
        ignoreAttributes: true,
        parseTagValue: false,
        isArray: (name) => name === 'item',
      });
    }
    const headers = await awsSignedHeaders(
      {
        url: this.endpoint,
        method: 'POST',
        service: 'ec2',
        region,
        body: form,
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      },
      this.credentials,
    );
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(this.endpoint, {
        method: 'POST',
        headers,
        body: form,
        signal,
      });
    } catch (error) {
      throw new Error(describeError(error, signal), { cause: error });
    }
    const text = await response.body.text();
    const parsed = this.xml.parse(text) as Record<string, unknown>;
    if (response.statusCode !== 200) {
      const error = (
        parsed.Response as { Errors?: { Error?: { Code?: string; Message?: string } } } | undefined
      )?.Errors?.Error;
      throw new Error(
        `DescribeInstances: HTTP ${response.statusCode}${error?.Code ? ` ${error.Code}: ${error.Message ?? ''}` : ''}`,
      );
    }
    const root = parsed.DescribeInstancesResponse as
      | { reservationSet?: { item?: Array<{ instancesSet?: { item?: RawInstance[] } }> }; nextToken?: string }
      | undefined;
    if (!root) throw new Error('DescribeInstances: the answer is not a DescribeInstancesResponse');
    const instances = (root.reservationSet?.item ?? []).flatMap((reservation) =>
      (reservation.instancesSet?.item ?? []).map(instanceOf),
    );
    return { instances, ...(root.nextToken ? { nextToken: root.nextToken } : {}) };
  }
}

interface RawInstance {
  instanceId?: string;
  instanceState?: { name?: string };
  instanceType?: string;
  placement?: { availabilityZone?: string };
  tagSet?: { item?: Array<{ key?: string; value?: string }> };
}

function instanceOf(raw: RawInstance): Instance {
  const name = raw.tagSet?.item?.find((tag) => tag.key === 'Name')?.value;
  const zone = raw.placement?.availabilityZone;
  return {
    id: raw.instanceId ?? '?',
    state: raw.instanceState?.name ?? 'unknown',
    ...(name ? { name } : {}),
    ...(raw.instanceType ? { type: raw.instanceType } : {}),
    ...(zone ? { zone } : {}),
  };
}

/** InstanceId.N and Filter.N.Name / Filter.N.Value.M, as the Query API numbers them (from 1). */
function queryParameters(body: AwsEc2Body): Array<[string, string]> {
  const parameters: Array<[string, string]> = [];
  (body.ec2_instance_ids ?? []).forEach((id, index) => parameters.push([`InstanceId.${index + 1}`, id]));
  Object.entries(body.ec2_filters ?? {}).forEach(([name, values], index) => {
    parameters.push([`Filter.${index + 1}.Name`, name]);
    (Array.isArray(values) ? values : [values]).forEach((value, valueIndex) =>
      parameters.push([`Filter.${index + 1}.Value.${valueIndex + 1}`, value]),
    );
  });
  return parameters;
}
