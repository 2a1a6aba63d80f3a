// The http check (`type: http`, docs/checks-http.md): one request to a URL, judged by its status,
// its body (search, search_regex) and Gatus-style conditions; the response time and the days left
// on the server's certificate as perfdata; a timed trace of the request's steps as the long output.
// What Platus' rest_http, skypunch and Gatus each do for one box, as a check type of the agent.
import { Type, type Static } from '@sinclair/typebox';
import type {
  CheckDependencies,
  CheckResult,
  CheckRunContext,
  CheckRunner,
  CheckSpec,
  CheckState,
  CheckType,
  PerfDatum,
} from '../check-type.js';
import { compileCondition, type CompiledCondition, type HttpObservation } from '../http/conditions.js';
import { KeystoneError, KeystoneSession, keystoneSettings } from '../http/keystone.js';
import { HttpProbe, type ProbeResult, type TraceStep } from '../http/probe.js';
import { searchBody } from '../http/search.js';
import { basicAuth, DEFAULT_MAX_BODY_BYTES, probeTls, serviceUrl } from '../http/service.js';

const DAY_MS = 86_400_000;

export const HttpCheckSchema = Type.Object(
  {
    url: Type.Optional(Type.String({ minLength: 1, description: 'http:// or https:// URL' })),
    host: Type.Optional(Type.String({ minLength: 1, description: 'instead of url: the host (Platus)' })),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    protocol: Type.Optional(Type.Union([Type.Literal('http'), Type.Literal('https')])),
    path: Type.Optional(Type.String({ description: 'with host: the path and query, default /' })),
    method: Type.Optional(
      Type.Union(['GET', 'HEAD', 'POST', 'PUT', 'DELETE'].map((method) => Type.Literal(method))),
    ),
    body: Type.Optional(
      Type.Union([Type.String(), Type.Record(Type.String(), Type.Unknown())], {
        description: 'the request body; a mapping is sent as JSON',
      }),
    ),
    expected_status: Type.Optional(
      Type.Union([Type.Integer(), Type.String(), Type.Array(Type.Union([Type.Integer(), Type.String()]))], {
        description: 'a code, a range "200-299", or a list of them; default 200-299',
      }),
    ),
    follow_redirects: Type.Optional(Type.Boolean()),
    request_headers: Type.Optional(Type.Record(Type.String(), Type.String())),
    username: Type.Optional(Type.String({ description: 'basic auth, with password' })),
    password: Type.Optional(Type.String()),
    token_header: Type.Optional(Type.String({ description: 'a header carrying token, e.g. PRIVATE-TOKEN' })),
    token: Type.Optional(Type.String()),
    ca: Type.Optional(Type.String({ description: 'PEM: the CA bundle to trust instead of the system one' })),
    cert: Type.Optional(Type.String({ description: 'PEM: a client certificate, with key' })),
    key: Type.Optional(Type.String({ description: 'PEM: the client certificate key' })),
    insecure: Type.Optional(Type.Boolean({ description: "don't verify the server's certificate" })),
    search: Type.Optional(
      Type.Union([Type.String(), Type.Record(Type.String(), Type.Unknown())], {
        description: 'text the body holds, or a mapping the JSON body holds',
      }),
    ),
    search_regex: Type.Optional(Type.String({ description: 'a regular expression the body matches' })),
    conditions: Type.Optional(
      Type.Array(Type.String(), { description: 'Gatus conditions: [STATUS] == 200' }),
    ),
    certificate_warning_days: Type.Optional(Type.Number({ minimum: 0 })),
    max_body_bytes: Type.Optional(Type.Integer({ minimum: 0, maximum: 64 * 1024 * 1024 })),
    keystone: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        description: 'OpenStack Keystone login: url, version (2 or 3), username, password, tenant, domain',
      }),
    ),
  },
  { additionalProperties: true },
);
type HttpCheckBody = Static<typeof HttpCheckSchema>;

export const HTTP_CHECK_TYPE: CheckType = {
  type: 'http',
  description: 'an HTTP(S) request: status, body search, Gatus conditions, response time, certificate expiry',
  schema: HttpCheckSchema,
  create: (spec, dependencies) => new HttpCheckRunner(spec, dependencies),
};

/** A status range [low, high], inclusive. */
type StatusRange = [number, number];

class HttpCheckRunner implements CheckRunner {
  private readonly probe: HttpProbe;
  private readonly url: URL;
  private readonly method: string;
  /** "GET https://host/path?…": what every output starts with (made once, not per run). */
  private readonly where: string;
  private readonly expected: StatusRange[];
  private readonly conditions: CompiledCondition[];
  private readonly body: HttpCheckBody;
  private readonly warningDays: number;
  private readonly keystone?: KeystoneSession;

  constructor(
    spec: CheckSpec,
    private readonly dependencies: CheckDependencies,
  ) {
    const body = spec.body as HttpCheckBody;
    this.body = body;
    this.url = targetUrl(body);
    this.method = body.method ?? 'GET';
    this.where = `${this.method} ${redactedUrl(this.url)}`;
    this.expected = statusRanges(body.expected_status ?? '200-299');
    this.conditions = (body.conditions ?? []).map((text) => {
      try {
        return compileCondition(text);
      } catch (error) {
        throw new Error(`conditions: ${(error as Error).message}`, { cause: error });
      }
    });
    if ((body.cert === undefined) !== (body.key === undefined))
      throw new Error('cert: and key: go together (a client certificate needs its key)');
    if ((body.username === undefined) !== (body.password === undefined))
      throw new Error('username: and password: go together (basic auth)');
    if ((body.token_header === undefined) !== (body.token === undefined))
      throw new Error('token_header: and token: go together, e.g. token_header: PRIVATE-TOKEN');
    if (body.search_regex !== undefined) {
      try {
        new RegExp(body.search_regex);
      } catch (error) {
        throw new Error(`search_regex: ${(error as Error).message}`, { cause: error });
      }
    }
    this.warningDays = body.certificate_warning_days ?? 14;
    if (body.keystone !== undefined) this.keystone = new KeystoneSession(keystoneSettings(body.keystone));
    const headers: Record<string, string> = { 'user-agent': 'opsbro-check', ...body.request_headers };
    if (body.username !== undefined) headers.authorization = basicAuth(body.username, body.password!);
    if (body.token_header !== undefined) headers[body.token_header.toLowerCase()] = body.token!;
    let requestBody: string | undefined;
    if (typeof body.body === 'string') requestBody = body.body;
    else if (body.body !== undefined) {
      requestBody = JSON.stringify(body.body);
      headers['content-type'] ??= 'application/json';
    }
    this.probe = new HttpProbe({
      url: this.url,
      method: this.method,
      headers,
      ...(requestBody !== undefined ? { body: requestBody } : {}),
      followRedirects: body.follow_redirects ?? true,
      maxBodyBytes: body.max_body_bytes ?? DEFAULT_MAX_BODY_BYTES,
      tls: probeTls(body),
    });
  }

  async run(context: CheckRunContext): Promise<CheckResult> {
    const extraHeaders: Record<string, string> = {};
    if (this.keystone) {
      try {
        extraHeaders['x-auth-token'] = await this.keystone.tokenFor(context.signal);
      } catch (error) {
        // The service may be fine: whether it is cannot be known without a token.
        if (error instanceof KeystoneError) return { state: 'unknown', output: error.message, perfdata: [] };
        throw error;
      }
    }
    const probed = await this.probe.run(context.signal, extraHeaders);
    // A token the service refuses (revoked, expired early): the next run logs in again.
    if (probed.status === 401) this.keystone?.forget();
    const perfdata: PerfDatum[] = [
      { label: 'time', value: round(probed.responseTimeMs / 1000, 4), uom: 's', min: 0 },
    ];
    const certificateDays =
      probed.certificateNotAfterMs !== undefined
        ? round((probed.certificateNotAfterMs - Date.now()) / DAY_MS, 1)
        : undefined;
    if (certificateDays !== undefined)
      perfdata.push({
        label: 'certificate_days',
        value: certificateDays,
        uom: '',
        warn: `${this.warningDays}:`,
      });
    const verdict = await this.judge(probed, certificateDays);
    const trace = [...probed.trace];
    if (verdict.failedAt) trace.push(verdict.failedAt);
    return {
      state: verdict.state,
      output: verdict.output,
      // The trace of a passing run is said only when asked for: a scheduled OK keeps its history
      // record (and the status written with it) small, at 1,000 runs a second.
      ...(verdict.state !== 'ok' || context.verbose ? { longOutput: traceLines(trace) } : {}),
      perfdata,
      ...(probed.status === undefined ? { networkFailure: true } : { httpStatus: probed.status }),
    };
  }

  close(): Promise<void> {
    return this.probe.close();
  }

  /** The state and the one line that says why, with the step that failed. */
  private async judge(
    probed: ProbeResult,
    certificateDays: number | undefined,
  ): Promise<{ state: CheckState; output: string; failedAt?: TraceStep }> {
    const where = this.where;
    const took = `${Math.round(probed.responseTimeMs)} ms`;
    if (probed.status === undefined)
      return { state: 'critical', output: `${where}: ${probed.error ?? 'no response'} (after ${took})` };
    const failed = (output: string): { state: CheckState; output: string; failedAt: TraceStep } => ({
      state: 'critical',
      output: `${where}: ${output}`,
      failedAt: { step: 'failed', atMs: round(probed.responseTimeMs, 1), detail: output },
    });
    if (!this.expected.some(([low, high]) => probed.status! >= low && probed.status! <= high))
      return failed(`HTTP ${probed.status}, expected ${describeRanges(this.expected)} (in ${took})`);
    if (probed.error !== undefined) return failed(`HTTP ${probed.status}, ${probed.error}`);
    const body = probed.body ?? '';
    if (this.body.search !== undefined) {
      const missing = searchBody(body, this.body.search);
      if (missing) return failed(`HTTP ${probed.status}, ${missing.message}`);
    }
    if (this.body.search_regex !== undefined) {
      let matched: boolean;
      try {
        matched = await this.dependencies.evaluator.searchText(
          this.body.search_regex,
          body,
          `search_regex ${JSON.stringify(this.body.search_regex)}`,
        );
      } catch (error) {
        return { state: 'unknown', output: `${where}: ${(error as Error).message}` };
      }
      if (!matched)
        return failed(
          `HTTP ${probed.status}, the body does not match ${JSON.stringify(this.body.search_regex)}`,
        );
    }
    const observation: HttpObservation = {
      status: probed.status,
      responseTimeMs: probed.responseTimeMs,
      body,
      connected: probed.connected,
      ...(probed.ip !== undefined ? { ip: probed.ip } : {}),
      ...(probed.certificateNotAfterMs !== undefined
        ? { certificateExpirationMs: probed.certificateNotAfterMs - Date.now() }
        : {}),
    };
    for (const condition of this.conditions) {
      const outcome = condition.evaluate(observation);
      if (!outcome.ok) return failed(`condition failed: ${outcome.shown}`);
    }
    const certificate =
      certificateDays !== undefined ? `, certificate valid ${certificateDays} more days` : '';
    if (certificateDays !== undefined && certificateDays < this.warningDays)
      return {
        state: 'warning',
        output: `${where}: HTTP ${probed.status} in ${took}, the certificate expires in ${certificateDays} days (warning under ${this.warningDays})`,
      };
    return { state: 'ok', output: `${where}: HTTP ${probed.status} in ${took}${certificate}` };
  }
}

/** `url:`, or Platus' host, port, protocol and path. */
function targetUrl(body: HttpCheckBody): URL {
  if (body.url !== undefined && body.host !== undefined) throw new Error('url: or host:, not both');
  let text: string;
  if (body.url !== undefined) text = body.url;
  else if (body.host !== undefined) {
    const protocol = body.protocol ?? 'http';
    const host = body.host.includes(':') && !body.host.startsWith('[') ? `[${body.host}]` : body.host;
    const path = body.path ?? '/';
    text = `${protocol}://${host}${body.port !== undefined ? `:${body.port}` : ''}${path.startsWith('/') ? '' : '/'}${path}`;
  } else throw new Error('url: (or host:) is required, e.g. url: http://127.0.0.1:8080/health');
  return serviceUrl('url', text);
}

function statusRanges(spec: NonNullable<HttpCheckBody['expected_status']>): StatusRange[] {
  const items = Array.isArray(spec) ? spec : [spec];
  if (items.length === 0) throw new Error('expected_status: give at least one code or range');
  return items.map((item) => {
    if (typeof item === 'number') return checkedRange(item, item, String(item));
    const match = /^\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?$/.exec(item);
    if (!match)
      throw new Error(`expected_status: ${JSON.stringify(item)} is not a code or a range like 200-299`);
    return checkedRange(Number(match[1]), Number(match[2] ?? match[1]), item);
  });
}

function checkedRange(low: number, high: number, text: string): StatusRange {
  if (low < 100 || high > 599 || low > high)
    throw new Error(`expected_status: ${JSON.stringify(text)} is not within 100-599, low to high`);
  return [low, high];
}

function describeRanges(ranges: StatusRange[]): string {
  return ranges.map(([low, high]) => (low === high ? String(low) : `${low}-${high}`)).join(', ');
}

/** The URL as outputs show it: no query string (it may carry a token). */
function redactedUrl(url: URL): string {
  return `${url.origin}${url.pathname}${url.search ? '?…' : ''}`;
}

function traceLines(trace: TraceStep[]): string {
  return trace
    .map(
      (step) =>
        `${step.atMs.toFixed(1).padStart(8)} ms  ${step.step}${step.detail ? `: ${step.detail}` : ''}`,
    )
    .join('\n');
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
