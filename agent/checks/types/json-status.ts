// The json_status check (`type: json_status`, megaphone's): a URL that answers JSON with its own
// verdict, `{"status": "OK" | "Warning" | "Critical" | "Unknown", "message": "..."}`, found at the
// top or at `jsonpath` (`$.checks.db`, `checks.db`, `items[0]`), or the status alone as a text at
// `jsonpath` (megaphone's `jsonpath: megaphone/status`); `statusoverride` replaces the status found
// (a known problem kept quiet, say) while the message still says what it said.
import { Type, type Static } from '@sinclair/typebox';
import type {
  CheckResult,
  CheckRunContext,
  CheckRunner,
  CheckSpec,
  CheckState,
  CheckType,
} from '../check-type.js';
import type { HttpProbe } from '../http/probe.js';
import { parseJsonPath, valueAtPath, type JsonPath } from '../http/json-path.js';
import { requestFailure, serviceProbe, serviceUrl } from '../http/service.js';

const STATES: Record<string, CheckState> = {
  ok: 'ok',
  warning: 'warning',
  critical: 'critical',
  unknown: 'unknown',
};

export const JsonStatusCheckSchema = Type.Object(
  {
    url: Type.Optional(Type.String({ description: 'the status URL' })),
    addr: Type.Optional(Type.String({ description: "instead of url: megaphone's object form" })),
    jsonpath: Type.Optional(Type.String({ description: 'where status and message are: $.checks.db' })),
    statusoverride: Type.Optional(
      Type.String({ description: 'OK, Warning, Critical or Unknown: reported instead' }),
    ),
  },
  { additionalProperties: true },
);
type JsonStatusBody = Static<typeof JsonStatusCheckSchema>;

export const JSON_STATUS_CHECK_TYPE: CheckType = {
  type: 'json_status',
  description: 'a URL answering its own status as JSON ({status, message}, megaphone-style)',
  schema: JsonStatusCheckSchema,
  create: (spec) => new JsonStatusRunner(spec),
};

class JsonStatusRunner implements CheckRunner {
  private readonly probe: HttpProbe;
  private readonly url: URL;
  private readonly path: JsonPath;
  private readonly override?: CheckState;

  constructor(spec: CheckSpec) {
    const body = spec.body as JsonStatusBody;
    if (body.url !== undefined && body.addr !== undefined) throw new Error('url: or addr:, not both');
    this.url = serviceUrl(body.addr !== undefined ? 'addr' : 'url', body.url ?? body.addr);
    this.path = jsonPath(body.jsonpath ?? '$');
    if (body.statusoverride !== undefined) {
      this.override = STATES[body.statusoverride.toLowerCase()];
      if (!this.override)
        throw new Error(
          `statusoverride: ${JSON.stringify(body.statusoverride)}: OK, Warning, Critical or Unknown`,
        );
    }
    this.probe = serviceProbe({ url: this.url });
  }

  async run(context: CheckRunContext): Promise<CheckResult> {
    const probed = await this.probe.run(context.signal);
    const where = `${this.url.origin}${this.url.pathname}`;
    const failure = requestFailure(probed, where);
    if (failure) return this.result('critical', failure);
    let found: unknown;
    try {
      found = JSON.parse(probed.body ?? '');
    } catch {
      return this.result('unknown', `${where}: the answer is not JSON`);
    }
    found = valueAtPath(found, this.path);
    // megaphone's object form points jsonpath at the status itself (`megaphone/status`): a text
    // found there is the status, and the message says where it was read, as megaphone's does.
    const { status, message } =
      typeof found === 'string'
        ? { status: found, message: `status from ${this.pathText()}: ${found}` }
        : ((found ?? {}) as { status?: unknown; message?: unknown });
    const state = typeof status === 'string' ? STATES[status.toLowerCase()] : undefined;
    if (!state)
      return this.result(
        'unknown',
        `${where}: no status (OK, Warning, Critical, Unknown) at ${this.pathText()}: ${JSON.stringify(status ?? null)}`,
      );
    return this.result(
      state,
      typeof message === 'string' && message !== '' ? message : `${where}: ${status as string}`,
    );
  }

  close(): Promise<void> {
    return this.probe.close();
  }

  private pathText(): string {
    return this.path.length ? this.path.join('.') : 'the top';
  }

  /** The state (or statusoverride's), the message saying what was really found when overridden. */
  private result(state: CheckState, output: string): CheckResult {
    if (this.override === undefined || this.override === state) return { state, output, perfdata: [] };
    return {
      state: this.override,
      output: `${output} (${state.toUpperCase()}, reported as ${this.override.toUpperCase()}: statusoverride)`,
      perfdata: [],
    };
  }
}

/** `$.a.b[0]`, `a.b[0]` or `$`. */
function jsonPath(text: string): JsonPath {
  const path = parseJsonPath(text.trim().replace(/^\$/, ''));
  if (!path)
    throw new Error(`jsonpath: cannot read ${JSON.stringify(text)} (keys and [index], e.g. $.checks.db)`);
  return path;
}
