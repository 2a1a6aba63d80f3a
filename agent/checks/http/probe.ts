// One http check's requests: an undici Agent of its own (one keep-alive connection: a check runs
// one request at a time, and the next run reuses it), with a connector that times each step of a
// new connection (resolve, connect, TLS) and keeps the server's certificate, and a body read up to
// a bound. What it returns is what was observed, failure included: a probe never throws for a
// server's fault, only reports it with the step it failed at.
import { subscribe } from 'node:diagnostics_channel';
import { connect as tcpConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type PeerCertificate, type TLSSocket } from 'node:tls';
import type { Agent, buildConnector, Dispatcher } from 'undici';

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

export class HttpProbe {
  /** Made at the first run: undici (~20 MiB, ~80 ms to load) is not loaded by an agent without such checks. */
  private client?: { agent: Agent; dispatcher: Dispatcher };
  /** The run under way: its start and its trace, for requestSent(). */
  private current?: { started: number; trace: TraceStep[] };
  private latest?: ConnectionRecord;
  private readonly now = (): number => performance.now();

  constructor(private readonly options: ProbeOptions) {}

  private async clientOf(): Promise<{ agent: Agent; dispatcher: Dispatcher }> {
    if (this.client) return this.client;
    const { Agent, interceptors } = await import('undici');
    listenForSentRequests();
    const agent = new Agent({
      connect: (connectOptions, callback) => this.connect(connectOptions, callback),
      connections: 1,
      pipelining: 1,
      keepAliveTimeout: 30_000,
    });
    const dispatcher = this.options.followRedirects
      ? agent.compose(interceptors.redirect({ maxRedirections: 10 }))
      : agent;
    return (this.client ??= { agent, dispatcher });
  }

  /** One request; `extraHeaders` join the configured ones for this run (a Keystone token). */
  async run(signal: AbortSignal, extraHeaders: Record<string, string> = {}): Promise<ProbeResult> {
    const { url, method, body, maxBodyBytes } = this.options;
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
    let response: Dispatcher.ResponseData;
    try {
      response = await (
        await this.clientOf()
      ).dispatcher.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        signal,
      });
    } catch (error) {
      trace.push({ step: 'failed', atMs: at(), detail: describeError(error, signal) });
      return result({ error: describeError(error, signal), connected: false });
    }
    trace.push({ step: 'first byte', atMs: at(), detail: `HTTP ${response.statusCode}` });
    const chunks: Buffer[] = [];
    let size = 0;
    let truncated = false;
    try {
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        if (size + chunk.length > maxBodyBytes) {
          chunks.push(chunk.subarray(0, maxBodyBytes - size));
          size = maxBodyBytes;
          truncated = true;
          break;
        }
        chunks.push(chunk);
        size += chunk.length;
      }
    } catch (error) {
      trace.push({ step: 'failed', atMs: at(), detail: `reading the body: ${describeError(error, signal)}` });
      return result({
        status: response.statusCode,
        error: `reading the body: ${describeError(error, signal)}`,
      });
    } finally {
      // A body left unread (cut at the bound) holds the connection: let it go.
      if (truncated) response.body.destroy();
    }
    trace.push({ step: 'body read', atMs: at(), detail: `${size} bytes${truncated ? ' (cut)' : ''}` });
    return result({
      status: response.statusCode,
      body: Buffer.concat(chunks).toString('utf8'),
      truncated,
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
    const agent = this.client?.agent;
    await agent?.close().catch(() => agent.destroy());
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

/** An undici or socket error as one line: the code and what it says, or "timed out". */
export function describeError(error: unknown, signal?: AbortSignal): string {
  if (signal?.aborted) return 'timed out';
  const failure = error as { message?: string; cause?: { message?: string } };
  const cause = failure.cause;
  if (cause?.message) return cause.message;
  return failure.message ?? String(error);
}
