// One http check's requests: an undici Client of its own (one keep-alive connection: a check runs
// one request at a time, and the next run reuses it; an Agent that follows redirects once the URL
// answered one), asked through dispatch() with a handler of our own (not request(): its body
// stream doubles the CPU of a run), with a connector that times each step of a new connection
// (resolve, connect, TLS) and keeps the server's certificate, and a body read up to a bound. What
// it returns is what was observed, failure included: a probe never throws for a server's fault,
// only reports it with the step it failed at.
import { subscribe } from 'node:diagnostics_channel';
import { connect as tcpConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type PeerCertificate, type TLSSocket } from 'node:tls';
import type { Agent, buildConnector, Client, Dispatcher } from 'undici';

/** A timed step of one request, for the failure trace (`targets ID test`, the long output). */
export interface TraceStep {
  step: 'resolve' | 'connect' | 'tls' | 'reuse' | 'request sent' | 'first byte' | 'body read' | 'failed';
  /** Milliseconds since the request started. */
  atMs: number;
  detail?: string;
}

export interface ProbeOptions {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body?: string;
  followRedirects: boolean;
  /** Bytes of body read at most; the rest is not read (the connection is then closed). */
  maxBodyBytes: number;
  tls: { ca?: string; cert?: string; key?: string; rejectUnauthorized: boolean };
}

export interface ProbeResult {
  status?: number;
  body?: string;
  /** The body was longer than maxBodyBytes and was cut there. */
  truncated: boolean;
  responseTimeMs: number;
  connected: boolean;
  ip?: string;
  /** The server certificate's end of validity (ms since the epoch), https only. */
  certificateNotAfterMs?: number;
  trace: TraceStep[];
  /** What failed, when no full response came: "connect ECONNREFUSED 127.0.0.1:81", "timed out"... */
  error?: string;
}

/** The newest connection the connector made, and what it learned. */
interface ConnectionRecord {
  startedMs: number;
  steps: TraceStep[];
  ip?: string;
  certificateNotAfterMs?: number;
}

/** Which probe a socket belongs to: undici says when a request's headers went out on a socket. */
const probesBySocket = new WeakMap<object, HttpProbe>();
let listening = false;

/** Subscribes, once, to undici's "headers sent" channel: the trace's "request sent" step. */
function listenForSentRequests(): void {
  if (listening) return;
  listening = true;
  subscribe('undici:client:sendHeaders', (message) => {
    const { socket } = message as { socket?: object };
    if (socket) probesBySocket.get(socket)?.requestSent();
  });
}

/** undici's dispatchers of one probe: a Client for its origin, an Agent for following redirects. */
interface ProbeClients {
  /** Its one keep-alive connection to the URL's origin. */
  direct: Client;
  /** Made at the first redirect: follows them, to whichever origin. */
  redirecting?: { agent: Agent; dispatcher: Dispatcher };
}

/** Statuses after which a redirect is followed (with a Location). */
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export class HttpProbe {
  /** Made at the first run: undici (~20 MiB, ~80 ms to load) is not loaded by an agent without such checks. */
  private clients?: ProbeClients;
  /**
   * Requests go through the redirect-following Agent: the URL answered a redirect once, or the
   * method is not one that may be sent twice (a redirect seen on the direct Client is asked again
   * through the Agent). The direct Client skips the Agent's and the interceptor's work (40-44
   * against 48-58 µs a request, throwaway script: docs/benchmarks.md).
   */
  private viaRedirects: boolean;
  /** The run under way: its start and its trace, for requestSent(). */
  private current?: { started: number; trace: TraceStep[] };
  private latest?: ConnectionRecord;
  private readonly now = (): number => performance.now();
  private readonly origin: string;
  private readonly path: string;

  constructor(private readonly options: ProbeOptions) {
    this.origin = options.url.origin;
    this.path = `${options.url.pathname}${options.url.search}`;
    this.viaRedirects = options.followRedirects && !['GET', 'HEAD'].includes(options.method.toUpperCase());
  }

  private async clientsOf(): Promise<ProbeClients> {
    if (this.clients) return this.clients;
    const { Client } = await import('undici');
    listenForSentRequests();
    const direct = new Client(this.origin, this.connectionOptions());
    return (this.clients ??= { direct });
  }

  /** How either dispatcher connects: through this probe's timed connector, one request at a time. */
  private connectionOptions() {
    return {
      connect: (connectOptions: Parameters<HttpProbe['connect']>[0], callback: buildConnector.Callback) =>
        this.connect(connectOptions, callback),
      pipelining: 1,
      keepAliveTimeout: 30_000,
    };
  }

  private async redirectingOf(clients: ProbeClients): Promise<Dispatcher> {
    if (clients.redirecting) return clients.redirecting.dispatcher;
    const { Agent, interceptors } = await import('undici');
    const agent = new Agent({ ...this.connectionOptions(), connections: 1 });
    clients.redirecting ??= {
      agent,
      dispatcher: agent.compose(interceptors.redirect({ maxRedirections: 10 })),
    };
    return clients.redirecting.dispatcher;
  }

  /** One request; `extraHeaders` join the configured ones for this run (a Keystone token). */
  async run(signal: AbortSignal, extraHeaders: Record<string, string> = {}): Promise<ProbeResult> {
    const { method, body, maxBodyBytes } = this.options;
    const headers = { ...this.options.headers, ...extraHeaders };
    const started = this.now();
    const at = (): number => Math.round((this.now() - started) * 10) / 10;
    const trace: TraceStep[] = [];
    this.current = { started, trace };
    const result = (extra: Partial<ProbeResult>): ProbeResult => {
      const connection = this.latest;
      const fresh = connection !== undefined && connection.startedMs >= started;
      // Steps of a connection made for this request, timed from its start; else a reused one.
      const steps = fresh
        ? connection.steps.map((step) => ({ ...step, atMs: Math.round((step.atMs - started) * 10) / 10 }))
        : connection
          ? [{ step: 'reuse' as const, atMs: 0, detail: connection.ip }]
          : [];
      return {
        truncated: false,
        responseTimeMs: this.now() - started,
        connected: connection !== undefined && (fresh || extra.status !== undefined),
        ...(connection?.ip !== undefined ? { ip: connection.ip } : {}),
        ...(connection?.certificateNotAfterMs !== undefined
          ? { certificateNotAfterMs: connection.certificateNotAfterMs }
          : {}),
        ...extra,
        trace: [...steps, ...trace].sort((a, b) => a.atMs - b.atMs),
      };
    };
    const clients = this.clients ?? (await this.clientsOf());
    const ask = (dispatcher: Dispatcher): Promise<Exchange> =>
      exchange(dispatcher, {
        origin: this.origin,
        path: this.path,
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        signal,
        maxBodyBytes,
        onFirstByte: (status) => trace.push({ step: 'first byte', atMs: at(), detail: `HTTP ${status}` }),
      });
    let answer = await ask(this.viaRedirects ? await this.redirectingOf(clients) : clients.direct);
    if (!this.viaRedirects && this.options.followRedirects && answer.redirected) {
      // Once: from now on this URL is asked through the Agent that follows redirects.
      this.viaRedirects = true;
      answer = await ask(await this.redirectingOf(clients));
    }
    if (answer.status === undefined) {
      const error = describeError(answer.error, signal);
      trace.push({ step: 'failed', atMs: at(), detail: error });
      return result({ error, connected: false });
    }
    if (answer.error !== undefined) {
      const error = `reading the body: ${describeError(answer.error, signal)}`;
      trace.push({ step: 'failed', atMs: at(), detail: error });
      return result({ status: answer.status, error });
    }
    trace.push({
      step: 'body read',
      atMs: at(),
      detail: `${answer.size} bytes${answer.truncated ? ' (cut)' : ''}`,
    });
    return result({
      status: answer.status,
      body: Buffer.concat(answer.chunks).toString('utf8'),
      truncated: answer.truncated,
    });
  }

  /** undici wrote this probe's request headers on its socket. */
  requestSent(): void {
    const current = this.current;
    if (current)
      current.trace.push({
        step: 'request sent',
        atMs: Math.round((this.now() - current.started) * 10) / 10,
      });
  }

  async close(): Promise<void> {
    const { direct, redirecting } = this.clients ?? {};
    await Promise.all([
      direct?.close().catch(() => direct.destroy()),
      redirecting?.agent.close().catch(() => redirecting.agent.destroy()),
    ]);
  }

  private connect(
    options: { hostname: string; port: string; protocol: string; servername?: string | null },
    callback: buildConnector.Callback,
  ): void {
    const startedMs = this.now();
    const record: ConnectionRecord = { startedMs, steps: [] };
    this.latest = record;
    const secure = options.protocol === 'https:';
    const port = Number(options.port) || (secure ? 443 : 80);
    // URL hostnames keep IPv6 brackets; sockets want the bare address.
    const host = options.hostname.replace(/^\[(.*)\]$/, '$1');
    const { tls } = this.options;
    const socket: Socket = secure
      ? tlsConnect({
          host,
          port,
          ...(isIP(host) ? {} : { servername: options.servername ?? host }),
          ALPNProtocols: ['http/1.1'],
          rejectUnauthorized: tls.rejectUnauthorized,
          ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
          ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
          ...(tls.key !== undefined ? { key: tls.key } : {}),
        })
      : tcpConnect({ host, port });
    probesBySocket.set(socket, this);
    let done = false;
    const finish = (error: Error | null): void => {
      if (done) return;
      done = true;
      socket.off('error', onError);
      if (error) {
        socket.destroy();
        callback(error, null);
      } else callback(null, socket);
    };
    const onError = (error: Error): void => finish(error);
    socket.once('error', onError);
    socket.once('lookup', (error: Error | null, address: string) => {
      if (!error) record.steps.push({ step: 'resolve', atMs: this.now(), detail: address });
    });
    socket.once('connect', () => {
      record.ip = socket.remoteAddress;
      record.steps.push({ step: 'connect', atMs: this.now(), detail: `${socket.remoteAddress}:${port}` });
      if (!secure) finish(null);
    });
    if (secure) {
      (socket as TLSSocket).once('secureConnect', () => {
        const tlsSocket = socket as TLSSocket;
        const certificate: PeerCertificate | undefined = tlsSocket.getPeerCertificate();
        if (certificate?.valid_to) record.certificateNotAfterMs = Date.parse(certificate.valid_to);
        record.steps.push({
          step: 'tls',
          atMs: this.now(),
          detail: `${tlsSocket.getProtocol() ?? 'TLS'}${commonName(certificate) ? `, CN=${commonName(certificate)}` : ''}`,
        });
        finish(null);
      });
    }
  }
}

/** The certificate's subject CN (a list when the subject has several). */
function commonName(certificate: PeerCertificate | undefined): string | undefined {
  // Node gives a list when the subject has several CNs, whatever its types say.
  const name: unknown = certificate?.subject?.CN;
  return Array.isArray(name) ? name.join(',') : typeof name === 'string' ? name : undefined;
}

/** What one exchange got: the status once the response began, its body, or what failed. */
interface Exchange {
  status?: number;
  /** A redirect status with a Location header. */
  redirected?: boolean;
  chunks: Buffer[];
  /** Bytes in chunks. */
  size: number;
  truncated: boolean;
  error?: unknown;
}

/** Aborts an exchange whose body passed the bound: the rest is not read (the connection closes). */
const BODY_CUT = new Error('body cut at the bound');

/**
 * One request through undici's dispatch() with a handler of our own: half the CPU of request(),
 * which wraps the same exchange in a body stream and an async iterator (48 against 107 µs a request
 * with a redirect-following Agent per check; docs/benchmarks.md). Never rejects.
 */
function exchange(
  dispatcher: Dispatcher,
  options: {
    origin: string;
    path: string;
    method: string;
    headers: Record<string, string>;
    body?: string;
    signal: AbortSignal;
    maxBodyBytes: number;
    onFirstByte: (status: number) => void;
  },
): Promise<Exchange> {
  const { signal, maxBodyBytes } = options;
  const answer: Exchange = { chunks: [], size: 0, truncated: false };
  // AbortSignal.reason is typed any; the engine aborts with an Error or nothing.
  const reason = (): Error => signal.reason as Error;
  if (signal.aborted) return Promise.resolve({ ...answer, error: reason() });
  return new Promise((resolve) => {
    let controller: Dispatcher.DispatchController | undefined;
    const onAbort = (): void => controller?.abort(reason());
    const settle = (error?: unknown): void => {
      signal.removeEventListener('abort', onAbort);
      resolve(error === undefined ? answer : { ...answer, error });
    };
    signal.addEventListener('abort', onAbort, { once: true });
    dispatcher.dispatch(
      {
        origin: options.origin,
        path: options.path,
        method: options.method,
        headers: options.headers,
        ...(options.body !== undefined ? { body: options.body } : {}),
      },
      {
        onRequestStart(requestController) {
          controller = requestController;
          if (signal.aborted) requestController.abort(reason());
        },
        onResponseStart(_controller, statusCode, headers) {
          answer.status = statusCode;
          if (REDIRECTS.has(statusCode) && headers.location !== undefined) answer.redirected = true;
          options.onFirstByte(statusCode);
        },
        onResponseData(dataController, chunk) {
          if (answer.truncated) return;
          if (answer.size + chunk.length > maxBodyBytes) {
            answer.chunks.push(chunk.subarray(0, maxBodyBytes - answer.size));
            answer.size = maxBodyBytes;
            answer.truncated = true;
            dataController.abort(BODY_CUT);
            return;
          }
          answer.chunks.push(chunk);
          answer.size += chunk.length;
        },
        onResponseEnd() {
          settle();
        },
        onResponseError(_controller, error) {
          settle(error === BODY_CUT ? undefined : error);
        },
      },
    );
  });
}

/** An undici or socket error as one line: the code and what it says, or "timed out". */
export function describeError(error: unknown, signal?: AbortSignal): string {
  if (signal?.aborted) return 'timed out';
  const failure = error as { message?: string; cause?: { message?: string } };
  const cause = failure.cause;
  if (cause?.message) return cause.message;
  return failure.message ?? String(error);
}
