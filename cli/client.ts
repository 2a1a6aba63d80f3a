// Talking to an agent's HTTP API, over TCP (http://host:port) or its unix socket (unix:/path).
import { request as httpRequest, type RequestOptions } from 'node:http';
import { AgentUnreachable, CliError, EXIT_ERROR } from './errors.js';
import { isLoopback } from '../agent/shared/addresses.js';
import { localDataDir, localSocket, provenLocalToken } from './local-agent.js';

export const DEFAULT_API = 'http://127.0.0.1:6768';

export interface ApiOptions {
  api?: string;
  token?: string;
}

/** An answer of the agent, whatever its status. */
export interface Reply {
  status: number;
  parsed: unknown;
  /** The agent's address this request reached (`127.0.0.1:6768`, or `unix:`): what its proof covers. */
  reachedAt: string;
  /** Set when the agent refused for want of a token and says where its local token is. */
  tokenHint?: { dataDir: string };
}

function tokenHintOf(status: number, parsed: unknown): Reply['tokenHint'] {
  if (status !== 401 && status !== 403) return undefined;
  const body = parsed as { token_required?: unknown; data_dir?: unknown } | undefined;
  return body?.token_required === true && typeof body.data_dir === 'string'
    ? { dataDir: body.data_dir }
    : undefined;
}

export class AgentClient {
  readonly target: string;
  private readonly base: RequestOptions;
  private readonly token?: string;

  constructor(options: ApiOptions) {
    // Commander fills these from OPSBRO_API and OPSBRO_TOKEN when the flags are absent. Without
    // either, the local agent's unix socket when this user may use it (root, or the agent's user):
    // every route, and no TCP connection limit a local user could fill; else the TCP default.
    const socket = options.api ? undefined : localSocket(localDataDir());
    this.target = options.api || (socket ? `unix:${socket}` : DEFAULT_API);
    this.token = options.token || undefined;
    if (this.target.startsWith('unix:')) {
      this.base = { socketPath: this.target.slice('unix:'.length) };
    } else {
      let url: URL;
      try {
        url = new URL(this.target);
      } catch {
        throw new CliError(
          `--api/OPSBRO_API ${this.target}: expected http://HOST:PORT or unix:/path/to/api.sock`,
          2,
        );
      }
      if (url.protocol !== 'http:')
        throw new CliError(`--api/OPSBRO_API ${this.target}: only http:// and unix: are supported`, 2);
      this.base = { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 80) };
    }
  }

  /** True when the agent is on this machine (unix socket or loopback), so its pid means something here. */
  get isLocal(): boolean {
    return Boolean(this.base.socketPath) || isLoopback(this.base.host ?? '');
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.call<T>('POST', path, body);
  }

  /** `body`: JSON, or a Buffer sent as it is (application/octet-stream: a KV value). */
  async call<T>(method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : JSON.stringify(body);
    let reply = await this.send(method, path, payload, this.token, timeoutMs);
    // A route that needs the admin role, on this machine: this one request again with the agent's
    // local token, if this user can read it and the agent proves it holds it. Never kept for the
    // next request: whoever answers that one (the port may change hands) is proved anew.
    if (!this.token && this.isLocal && reply.tokenHint) {
      const token = await provenLocalToken(this, reply.tokenHint.dataDir);
      if (token) reply = await this.send(method, path, payload, token, timeoutMs);
    }
    const { status, parsed } = reply;
    if (status >= 200 && status < 300) return parsed as T;
    const { error, ...fields } = (parsed !== null && typeof parsed === 'object' ? parsed : {}) as Record<
      string,
      unknown
    >;
    const message = typeof error === 'string' ? error : `HTTP ${status}`;
    const hint =
      status === 401
        ? ' (set OPSBRO_TOKEN or pass --token)'
        : reply.tokenHint
          ? " (run the command as the agent's user, e.g. with sudo, or pass --token)"
          : '';
    // Under --json the answer's other fields (token_required, data_dir...) travel with the error.
    throw new CliError(`${message}${hint}`, EXIT_ERROR, { ...fields, http_status: status });
  }

  /** One request; never rejects on an HTTP status, only when the agent cannot be reached. */
  send(
    method: string,
    path: string,
    payload: string | Buffer | undefined,
    token: string | undefined,
    timeoutMs = 10_000,
  ): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      const request = httpRequest(
        {
          ...this.base,
          method,
          path,
          timeout: timeoutMs,
          headers: {
            Accept: 'application/json',
            ...(payload !== undefined
              ? {
                  'Content-Type': Buffer.isBuffer(payload) ? 'application/octet-stream' : 'application/json',
                  'Content-Length': Buffer.byteLength(payload),
                }
              : {}),
            ...(token ? { Authorization: `Bearer ${token}` } : {}),
          },
        },
        (response) => {
          const { remoteAddress, remotePort } = response.socket;
          const reachedAt = this.base.socketPath
            ? 'unix:'
            : `${(remoteAddress ?? '').replace(/^::ffff:/, '')}:${remotePort ?? 0}`;
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              return reject(
                new CliError(
                  `the agent at ${this.target} answered ${response.statusCode} with a body that is not JSON`,
                ),
              );
            }
            const status = response.statusCode ?? 0;
            resolve({ status, parsed, reachedAt, tokenHint: tokenHintOf(status, parsed) });
          });
        },
      );
      request.on('timeout', () => request.destroy(new Error('ETIMEDOUT')));
      request.on('error', (error: NodeJS.ErrnoException) => reject(this.unreachable(error)));
      request.end(payload);
    });
  }

  private unreachable(error: NodeJS.ErrnoException): AgentUnreachable {
    const code = error.code ?? error.message;
    return new AgentUnreachable(
      `cannot reach the agent at ${this.target} (${code}): is it running? Start it with \`opsbro agent start\`, or point --api / OPSBRO_API at it`,
      code,
      this.target,
    );
  }
}

/** True when the error means the agent could not be reached (used to wait for a stop). */
export function isUnreachable(error: unknown): error is AgentUnreachable {
  return error instanceof AgentUnreachable;
}

/**
 * True when the error proves no agent runs at a local address: the socket file is gone or nothing
 * listens (refused). A timeout, or a remote address, proves nothing (a firewall may refuse too).
 */
export function isNotRunning(client: AgentClient, error: unknown): boolean {
  return client.isLocal && isUnreachable(error) && ['ECONNREFUSED', 'ENOENT'].includes(error.code);
}
