// The HTTP API: JSON over TCP (api.bind:api.port) and over a unix socket in the data dir.
// It serves the routes subsystems hand to it and knows nothing about them.
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../log/index.js';
import type { Subsystem } from '../subsystem.js';
import type { MetricFamily } from '../shared/exposition.js';
import type { SubsystemState } from '../shared/api-types.js';
import type { Socket } from 'node:net';
import { Type } from '@sinclair/typebox';
import { bodyParser } from '../shared/body.js';
import { LOCAL_TOKEN_PRINCIPAL, TokenAuthenticator, type ApiToken } from './auth.js';
import { isLoopback } from '../shared/addresses.js';
import { type ConnectionInfo, HttpError, HttpReply, type Principal, type Route } from '../shared/http.js';
import { allows, Router } from './router.js';

export interface HttpApiOptions {
  bind: string;
  port: number;
  /** Path of the unix socket, or undefined for none. */
  socketPath?: string;
  maxBodyBytes: number;
  tokens: ApiToken[];
  /** The agent's local admin token (<data-dir>/local-token); the CLI finds and uses it. */
  localToken?: string;
  /** Told to local callers refused for want of a token: where the local token is. */
  dataDir?: string;
  /** A connection idle this long (nothing sent, no answer pending) is closed. Default 15 s. */
  idleConnectionMs?: number;
  /** Connections each listener keeps at once. Default 512. */
  maxConnections?: number;
  logger: Logger;
}

const proofRequest = bodyParser(
  Type.Object({ nonce: Type.String({ pattern: '^[0-9a-f]{32,128}$' }) }, { additionalProperties: false }),
  '{"nonce": "<32 to 128 hex digits>"}',
);

/** The unix socket is mode 0600: whoever reaches it already is the agent's user. */
const UNIX_SOCKET_PRINCIPAL: Principal = { name: 'unix-socket', role: 'admin' };
/** A loopback caller without a token, when the operator configured none: read-only. */
const LOOPBACK_PRINCIPAL: Principal = { name: 'loopback', role: 'read' };

/** Connections a listener keeps at once. */
const MAX_CONNECTIONS = 512;
/** A connection that sends nothing (and waits for no answer) this long is closed. */
const IDLE_CONNECTION_MS = 15_000;

/** Unix socket paths longer than this do not fit in sockaddr_un on Linux. */
const MAX_SOCKET_PATH_BYTES = 107;

export class HttpApi implements Subsystem {
  readonly name = 'api';
  readonly router = new Router();
  private readonly auth: TokenAuthenticator;
  private readonly servers: Server[] = [];
  private status: SubsystemState = { status: 'initializing' };
  /** Where the TCP listener actually bound (port 0 picks a free one). */
  tcpAddress?: { address: string; port: number };

  constructor(private readonly options: HttpApiOptions) {
    this.auth = new TokenAuthenticator(options.tokens, options.localToken);
  }

  addRoutes(routes: Route[]): void {
    this.router.add(routes);
  }

  routes(): Route[] {
    return [
      {
        method: 'GET',
        path: '/api/routes',
        access: 'read',
        description: 'every route of this API, and who may call it (public, read, admin)',
        handler: () =>
          this.router
            .list()
            .map(({ method, path, access, description }) => ({ method, path, access, description })),
      },
      {
        method: 'POST',
        path: '/agent/auth/proof',
        access: 'public',
        description:
          'proves this agent holds the local token: {"nonce": HEX} -> {"proof": HMAC of the nonce and the address reached}',
        handler: ({ body, connection }) => {
          const { nonce } = proofRequest.parse(body);
          // Only for this machine: nobody else can use the local token anyway.
          if (!connection.local) throw new HttpError(403, 'the local-token proof is for local callers');
          const proof = this.auth.localTokenProof(nonce, connection.reachedAt);
          if (!proof) throw new HttpError(404, 'this agent has no local token');
          return { proof };
        },
      },
    ];
  }

  async start(): Promise<void> {
    try {
      await this.listenAll();
    } catch (error) {
      // Nothing half-started: close whatever did open before reporting the failure.
      await this.stop();
      throw error;
    }
    this.status = { status: 'ok' };
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.splice(0).map(closeServer));
    if (this.options.socketPath) rmSync(this.options.socketPath, { force: true });
    this.status = { status: 'stopped' };
  }

  /** Requests answered, by status code, since the start (the Prometheus exposition). */
  private readonly answered = new Map<string, number>();

  exposition(): MetricFamily[] {
    return [
      {
        name: 'opsbro_api_requests_total',
        help: 'HTTP API requests answered, by status code',
        type: 'counter',
        labelNames: ['code'],
        samples: () => [...this.answered].map(([code, value]) => ({ labels: { code }, value })),
      },
    ];
  }

  state(): SubsystemState {
    return this.status;
  }

  private async listenAll(): Promise<void> {
    const { bind, port, socketPath, logger } = this.options;
    const tcp = this.createServer(false);
    this.servers.push(tcp);
    await listen(tcp, { host: bind, port }, `API on ${bind}:${port}`);
    const bound = tcp.address();
    if (bound && typeof bound === 'object') this.tcpAddress = { address: bound.address, port: bound.port };

    if (socketPath) {
      if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
        logger.warn('API unix socket path too long, socket disabled', { path: socketPath });
      } else {
        // We hold the data-dir lock, so a socket file left here is a dead agent's.
        rmSync(socketPath, { force: true });
        const local = this.createServer(true);
        this.servers.push(local);
        await listen(local, { path: socketPath }, `API on unix socket ${socketPath}`);
        chmodSync(socketPath, 0o600);
      }
    }
    logger.info('API listening', {
      address: `${this.tcpAddress?.address}:${this.tcpAddress?.port}`,
      socket: socketPath,
      auth: this.auth.required ? 'tokens' : 'loopback read-only without a token',
    });
  }

  private createServer(isUnixSocket: boolean): Server {
    /** Connections with a request being answered: a slow handler (detect, eval) is not idleness. */
    const answering = new WeakSet<Socket>();
    const server = createServer((request, response) => {
      answering.add(request.socket);
      response.once('finish', () => {
        const code = String(response.statusCode);
        this.answered.set(code, (this.answered.get(code) ?? 0) + 1);
      });
      response.once('close', () => answering.delete(request.socket));
      this.handle(request, response, isUnixSocket).catch((error: unknown) => {
        this.options.logger.error('API request failed', { error });
        if (!response.headersSent) sendJson(response, 500, { error: 'internal error' });
      });
    });
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    server.keepAliveTimeout = 5_000;
    // Node closes no connection that never sends a byte: a local process could hold thousands
    // and run the agent out of file descriptors. Idle ones are closed; past the cap new ones are
    // refused at once (the unix socket is a server of its own, so root keeps a way in).
    server.maxConnections = this.options.maxConnections ?? MAX_CONNECTIONS;
    // With a listener of its own, Node leaves the decision to us instead of destroying the socket.
    server.setTimeout(this.options.idleConnectionMs ?? IDLE_CONNECTION_MS, (socket: Socket) => {
      if (!answering.has(socket)) socket.destroy();
    });
    return server;
  }

  private async handle(
    request: IncomingMessage,
    response: ServerResponse,
    isUnixSocket: boolean,
  ): Promise<void> {
    const principal = this.authenticate(request, isUnixSocket);
    if (principal instanceof HttpError) return this.refuse(request, response, principal, isUnixSocket);
    let url: URL;
    const rawPath = (request.url ?? '/').split('?')[0]!;
    // `/kv/a/../b` would be folded into `/kv/b` by the URL parser: no route wants dot segments,
    // and a key or a name that held one would mean something else than it says.
    if (hasDotSegment(rawPath)) {
      request.resume();
      return sendJson(response, 400, { error: 'malformed request URL: dot segments (. or ..) in the path' });
    }
    try {
      url = new URL(request.url ?? '/', 'http://agent');
    } catch {
      return sendJson(response, 400, { error: 'malformed request URL' });
    }
    const match = this.router.match(request.method ?? 'GET', url.pathname);
    if (match.kind === 'bad-path') return sendJson(response, 400, { error: 'malformed request URL' });
    if (match.kind === 'not-found')
      return sendJson(response, 404, { error: `no such endpoint: ${url.pathname}` });
    if (match.kind === 'wrong-method') {
      response.setHeader('Allow', match.allowed.join(', '));
      return sendJson(response, 405, {
        error: `method ${request.method} not allowed; use ${match.allowed.join(', ')}`,
      });
    }
    const { route } = match;
    if (principal === null && route.access !== 'public' && this.auth.required) {
      return this.refuse(request, response, unauthenticated(), isUnixSocket);
    }
    const caller = principal ?? LOOPBACK_PRINCIPAL;
    if (!allows(route.access, caller.role)) {
      request.resume();
      const tokenHint = isLocalPeer(request.socket, isUnixSocket)
        ? { token_required: true, ...(this.options.dataDir ? { data_dir: this.options.dataDir } : {}) }
        : {};
      return sendJson(response, 403, {
        error:
          `refused: ${route.method} ${route.path} needs the admin role (a token of auth.tokens, ` +
          `the agent's local token in ${this.options.dataDir ?? '<data-dir>'}/local-token, or the unix socket); ` +
          `the caller is ${caller.name}, role ${caller.role}`,
        ...tokenHint,
      });
    }
    // A client that hangs up mid-wait (a blocking query) ends the wait.
    const gone = new AbortController();
    response.once('close', () => gone.abort());
    try {
      const bytes = await readBody(request, route.maxBodyBytes ?? this.options.maxBodyBytes);
      const raw = route.body === 'raw';
      const result = await route.handler({
        params: match.params,
        query: url.searchParams,
        body: raw ? undefined : parseJson(bytes),
        ...(raw ? { rawBody: bytes } : {}),
        rawPath,
        principal: caller,
        connection: describeConnection(request.socket, isUnixSocket),
        signal: gone.signal,
      });
      if (result instanceof HttpReply) return sendReply(response, result);
      sendJson(response, 200, result ?? { ok: true });
    } catch (error) {
      if (error instanceof HttpError)
        return sendJson(response, error.status, { error: error.message }, error.headers);
      this.options.logger.error('API handler failed', {
        route: `${route.method} ${route.path}`,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
      sendJson(response, 500, { error: 'internal error (see the agent log)' });
    }
  }

  /**
   * Who is calling: the principal of the unix socket or of a valid token; null for a request
   * without a token (read-only on loopback, refused when auth.tokens are configured); or why the
   * request is refused. Tokenless callers are local processes, but not browsers: a page of another
   * site must not drive the agent from the visitor's machine (Origin), nor through a DNS name
   * rebound to 127.0.0.1 (Host).
   */
  private authenticate(request: IncomingMessage, isUnixSocket: boolean): Principal | null | HttpError {
    if (isUnixSocket) return UNIX_SOCKET_PRINCIPAL;
    const fromToken = this.auth.authenticate(tokenOf(request));
    if (fromToken === undefined) return unauthenticated();
    // The local token is for this machine: from elsewhere (an API bound beyond loopback) it is
    // worth nothing, even if it leaked.
    if (fromToken === LOCAL_TOKEN_PRINCIPAL && !isLocalPeer(request.socket, false)) return unauthenticated();
    if (fromToken !== null) return fromToken;
    if (this.auth.required) return null;
    const host = request.headers.host ?? '';
    if (host && !isLoopbackHost(host)) {
      return new HttpError(
        403,
        `refused: Host ${JSON.stringify(host)} is not this machine; configure auth.tokens to serve other names`,
      );
    }
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== `http://${host}`) {
      return new HttpError(403, 'refused: cross-origin requests need auth.tokens');
    }
    return null;
  }

  private refuse(
    request: IncomingMessage,
    response: ServerResponse,
    error: HttpError,
    isUnixSocket: boolean,
  ): void {
    request.resume();
    if (error.status === 401) response.setHeader('WWW-Authenticate', 'Bearer realm="opsbro"');
    // A local caller may hold the local token: say where it is (the CLI proves us, then sends it).
    const hint =
      error.status === 401 && isLocalPeer(request.socket, isUnixSocket) && this.options.dataDir
        ? { token_required: true, data_dir: this.options.dataDir }
        : {};
    sendJson(response, error.status, { error: error.message, ...hint });
  }
}

/** A `.` or `..` segment in the path, percent-encoded or not. */
function hasDotSegment(rawPath: string): boolean {
  return rawPath.split('/').some((segment) => {
    const plain = segment.replace(/%2e/gi, '.');
    return plain === '.' || plain === '..';
  });
}

/**
 * The bearer token of a request: `Authorization: Bearer T`, or as Consul's clients send it
 * (`X-Consul-Token: T`, `?token=T`), so their tools work unchanged. Returned as an Authorization
 * value (undefined: none sent).
 */
function tokenOf(request: IncomingMessage): string | undefined {
  if (request.headers.authorization !== undefined) return request.headers.authorization;
  const consul = request.headers['x-consul-token'];
  if (typeof consul === 'string' && consul) return `Bearer ${consul}`;
  const query = (request.url ?? '').split('?')[1];
  if (query === undefined || !query.includes('token=')) return undefined;
  const token = new URLSearchParams(query).get('token');
  return token ? `Bearer ${token}` : undefined;
}

function unauthenticated(): HttpError {
  return new HttpError(401, 'authentication required: send Authorization: Bearer <token>');
}

/** A caller on this machine: the unix socket, or a TCP peer on a loopback address. */
function isLocalPeer(socket: Socket, isUnixSocket: boolean): boolean {
  return isUnixSocket || isLoopback(unmapped(socket.remoteAddress ?? ''));
}

function describeConnection(socket: Socket, isUnixSocket: boolean): ConnectionInfo {
  return {
    local: isLocalPeer(socket, isUnixSocket),
    reachedAt: isUnixSocket ? 'unix:' : `${unmapped(socket.localAddress ?? '')}:${socket.localPort ?? 0}`,
  };
}

/** `::ffff:127.0.0.1` (an IPv4 peer of a dual-stack listener) as `127.0.0.1`. */
function unmapped(address: string): string {
  return address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
}

/** `localhost`, `127.x.y.z` or `[::1]`, with or without a port. */
function isLoopbackHost(hostHeader: string): boolean {
  const hostname = hostHeader.startsWith('[')
    ? hostHeader.slice(1, hostHeader.indexOf(']'))
    : (hostHeader.split(':')[0] ?? '');
  return isLoopback(hostname);
}

function listen(
  server: Server,
  options: { host: string; port: number } | { path: string },
  what: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const hint = error.code === 'EADDRINUSE' ? ' (address in use: another agent? change api.port)' : '';
      reject(new Error(`cannot listen for the ${what}: ${error.code ?? error.message}${hint}`));
    });
    if (!('path' in options)) return void server.listen(options, () => resolve());
    // The socket file is created by the bind, which listen() does before it returns: with this
    // umask it is 0600 from its first instant, not only after the chmod that follows.
    const previousUmask = process.umask(0o077);
    try {
      server.listen(options, () => resolve());
    } finally {
      process.umask(previousUmask);
    }
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeIdleConnections();
    // Clients still mid-request get a short grace, then are cut: stop must stay quick.
    setTimeout(() => server.closeAllConnections(), 500).unref();
  });
}

async function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > maxBytes) {
    request.resume();
    throw new HttpError(413, `request body too large (limit ${maxBytes} bytes)`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      // Stop reading; the 413 goes out with Connection: close and the socket ends after it.
      request.pause();
      throw new HttpError(413, `request body too large (limit ${maxBytes} bytes)`);
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

function parseJson(bytes: Buffer): unknown {
  if (bytes.length === 0) return undefined;
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'request body is not valid JSON');
  }
}

function sendReply(response: ServerResponse, reply: HttpReply): void {
  if (!Buffer.isBuffer(reply.body)) return sendJson(response, reply.status, reply.body, reply.headers);
  response.writeHead(reply.status, {
    ...reply.headers,
    'Content-Type': reply.contentType,
    'Content-Length': reply.body.length,
    'Cache-Control': 'no-store',
  });
  response.end(reply.body);
}

function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...(status === 413 ? { Connection: 'close' } : {}),
  });
  response.end(text);
}
