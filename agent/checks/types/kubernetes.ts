// The kubernetes check (`type: kubernetes`, uptimeserver's): the API server's `/readyz?verbose`
// (or `/livez`, `/healthz`) with a bearer token or a client certificate and the cluster's CA,
// given as keys or read from a kubeconfig context; the checks that failed named, and the
// availability over the last runs (as uptimeserver reports it) as output and perfdata.
import { Type, type Static } from '@sinclair/typebox';
import type { CheckResult, CheckRunContext, CheckRunner, CheckSpec, CheckType } from '../check-type.js';
import { kubeconfigAccess, type KubernetesAccess } from '../http/kubeconfig.js';
import type { HttpProbe } from '../http/probe.js';
import { requestFailure, serviceProbe, serviceUrl } from '../http/service.js';

export const KubernetesCheckSchema = Type.Object(
  {
    server: Type.Optional(Type.String({ description: 'the API server, e.g. https://10.0.0.1:6443' })),
    token: Type.Optional(Type.String({ description: "a bearer token (a service account's)" })),
    ca: Type.Optional(Type.String({ description: "PEM: the cluster's CA" })),
    cert: Type.Optional(Type.String()),
    key: Type.Optional(Type.String()),
    insecure: Type.Optional(Type.Boolean()),
    kubeconfig: Type.Optional(Type.String({ description: 'a kubeconfig file, instead of the keys above' })),
    context: Type.Optional(
      Type.String({ description: "the kubeconfig's context; default its current-context" }),
    ),
    endpoint: Type.Optional(
      Type.Union([Type.Literal('readyz'), Type.Literal('livez'), Type.Literal('healthz')]),
    ),
    availability_window: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
  },
  { additionalProperties: true },
);
type KubernetesBody = Static<typeof KubernetesCheckSchema>;

export const KUBERNETES_CHECK_TYPE: CheckType = {
  type: 'kubernetes',
  description:
    "a Kubernetes API server's /readyz (or /livez, /healthz), and its availability over the last runs",
  schema: KubernetesCheckSchema,
  create: (spec) => new KubernetesRunner(spec),
};

class KubernetesRunner implements CheckRunner {
  private readonly probe: HttpProbe;
  private readonly url: URL;
  private readonly endpoint: string;
  private readonly window: number;
  /** The last runs, up (true) or not, oldest first. */
  private readonly runs: boolean[] = [];

  constructor(spec: CheckSpec) {
    const body = spec.body as KubernetesBody;
    const access = accessOf(body);
    this.endpoint = body.endpoint ?? 'readyz';
    this.window = body.availability_window ?? 20;
    this.url = serviceUrl(
      body.kubeconfig !== undefined ? 'kubeconfig: server' : 'server',
      access.server,
      `/${this.endpoint}?verbose`,
    );
    this.probe = serviceProbe({
      url: this.url,
      headers: {
        accept: 'text/plain',
        ...(access.token !== undefined ? { authorization: `Bearer ${access.token}` } : {}),
      },
      ...(access.ca !== undefined ? { ca: access.ca } : {}),
      ...(access.cert !== undefined ? { cert: access.cert, key: access.key! } : {}),
      ...(access.insecure !== undefined ? { insecure: access.insecure } : {}),
    });
  }

  async run(context: CheckRunContext): Promise<CheckResult> {
    const probed = await this.probe.run(context.signal);
    const where = `kubernetes ${this.url.origin} ${this.endpoint}`;
    if (probed.status === 401 || probed.status === 403) {
      // Whether the cluster is up cannot be told without access: not a run that counts.
      return {
        state: 'unknown',
        output: `${where}: HTTP ${probed.status}: the credentials were refused (token, certificate or RBAC)`,
        perfdata: [],
      };
    }
    const lines = (probed.body ?? '').split('\n').map((line) => line.trim());
    const failed = lines
      .filter((line) => line.startsWith('[-]'))
      .map((line) => line.slice(3).split(/\s/)[0]!);
    const passed = lines.filter((line) => line.startsWith('[+]')).length;
    const up = probed.status === 200 && failed.length === 0;
    this.runs.push(up);
    if (this.runs.length > this.window) this.runs.shift();
    const availability = Math.round((1000 * this.runs.filter(Boolean).length) / this.runs.length) / 10;
    const perfdata = [
      { label: 'availability', value: availability, uom: '%', min: 0, max: 100 },
      { label: 'checks_failed', value: failed.length, uom: '' },
    ];
    const over = `; available ${availability}% of the last ${this.runs.length} run${this.runs.length === 1 ? '' : 's'}`;
    if (up) return { state: 'ok', output: `${where}: ok (${passed} checks passed)${over}`, perfdata };
    const failure =
      failed.length > 0
        ? `${where}: failed: ${failed.join(', ')} (HTTP ${probed.status ?? 'none'})`
        : (requestFailure(probed, where) ?? `${where}: not ready`);
    return { state: 'critical', output: `${failure}${over}`, perfdata };
  }

  close(): Promise<void> {
    return this.probe.close();
  }
}

function accessOf(body: KubernetesBody): KubernetesAccess {
  if (body.kubeconfig !== undefined) {
    if (body.server !== undefined || body.token !== undefined)
      throw new Error('kubeconfig: or server:/token:, not both');
    return kubeconfigAccess(body.kubeconfig, body.context);
  }
  if (body.server === undefined) throw new Error('server: (or kubeconfig:) is required');
  if ((body.cert === undefined) !== (body.key === undefined))
    throw new Error('cert: and key: go together (a client certificate needs its key)');
  return {
    server: body.server,
    ...(body.token !== undefined ? { token: body.token } : {}),
    ...(body.ca !== undefined ? { ca: body.ca } : {}),
    ...(body.cert !== undefined ? { cert: body.cert, key: body.key! } : {}),
    ...(body.insecure !== undefined ? { insecure: body.insecure } : {}),
  };
}
