// Talking to an agent's HTTP API, over TCP (http://host:port) or its unix socket (unix:/path).
import { request as httpRequest, type RequestOptions } from 'node:http';
import { CliError } from './errors.js';

export const DEFAULT_API = 'http://127.0.0.1:6768';

export interface ApiOptions {
  api?: string;
  token?: string;
}

export class AgentClient {
  readonly target: string;
  private readonly base: RequestOptions;
  private readonly token?: string;

  constructor(options: ApiOptions) {
    // Commander fills these from OPSBRO_API and OPSBRO_TOKEN when the flags are absent.
    this.target = options.api || DEFAULT_API;
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
    if (this.base.socketPath) return true;
    const host = this.base.host ?? '';
    return host === 'localhost' || host === '::1' || host.startsWith('127.');
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.call<T>('POST', path, body);
  }

  call<T>(method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const request = httpRequest(
        {
          ...this.base,
          method,
          path,
          timeout: timeoutMs,
          headers: {
            Accept: 'application/json',
            ...(payload
              ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) }
              : {}),
            ...(this.token ? { Authorization: `Bearer ${this.token}` } : {}),
          },
        },
        (response) => {
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
            if (status >= 200 && status < 300) return resolve(parsed as T);
            const message = (parsed as { error?: string } | undefined)?.error ?? `HTTP ${status}`;
            const hint = status === 401 ? ' (set OPSBRO_TOKEN or pass --token)' : '';
            reject(new CliError(`${message}${hint}`));
          });
        },
      );
      request.on('timeout', () => request.destroy(new Error('ETIMEDOUT')));
      request.on('error', (error: NodeJS.ErrnoException) => reject(this.unreachable(error)));
      request.end(payload);
    });
  }

  private unreachable(error: NodeJS.ErrnoException): CliError {
    const code = error.code ?? error.message;
    return new CliError(
      `cannot reach the agent at ${this.target} (${code}): is it running? Start it with \`opsbro agent start\`, or point --api / OPSBRO_API at it`,
    );
  }
}

/** True when the error means nothing is listening (used to wait for a stop). */
export function isUnreachable(error: unknown): boolean {
  return error instanceof CliError && error.message.startsWith('cannot reach the agent');
}
