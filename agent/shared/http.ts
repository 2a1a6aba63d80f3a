// What a subsystem needs to offer HTTP routes, without importing the API: a route (method, path,
// who may call it, handler) and the error a handler throws. The API serves them (agent/api);
// subsystems hand their lists to main, which hands them to the API.

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/**
 * What a caller may do. read: look (info, members, collectors...); admin: change the agent or see
 * what could reveal a secret (eval, reload, stop, join, leave, keys, every write route).
 */
export type Role = 'read' | 'admin';

/**
 * Who may call a route, declared where the route is registered so a new route cannot forget it.
 * public: anyone who reaches the API, even without the token it requires (the local-token proof);
 * read and admin: a caller with at least that role.
 */
export type RouteAccess = 'public' | Role;

/** Who is calling and with which role (see HttpApi.authenticate). */
export interface Principal {
  /** 'unix-socket', 'local-token', 'token:<name>' or 'loopback' (no token). */
  name: string;
  role: Role;
}

/** The connection a request came on. */
export interface ConnectionInfo {
  /** From this machine: the unix socket, or a loopback peer. */
  local: boolean;
  /** The agent's address the caller reached (`127.0.0.1:6768`), or `unix:` for the socket. */
  reachedAt: string;
}

export interface RequestContext {
  params: Record<string, string>;
  query: URLSearchParams;
  /** Parsed JSON body (undefined when the request had none, or when the route takes raw bodies). */
  body: unknown;
  /** The body's bytes, for a route declaring `body: 'raw'` (empty when the request had none). */
  rawBody?: Buffer;
  /** The path as the client sent it, percent-encoding kept (`%2F` differs from `/` here). */
  rawPath: string;
  principal: Principal;
  connection: ConnectionInfo;
  /** Aborted when the client goes away: a long wait (a blocking query) stops early. */
  signal: AbortSignal;
}

/**
 * A handler returns the JSON body of a 200, an HttpReply (another status, headers, raw bytes),
 * or throws HttpError.
 */
export type RouteHandler = (context: RequestContext) => unknown;

/** An answer other than a plain JSON 200: a status, headers, and JSON or raw bytes. */
export class HttpReply {
  constructor(
    readonly status: number,
    /** JSON-encoded unless it is a Buffer (sent as it is, as `contentType`). */
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
    readonly contentType = 'application/octet-stream',
  ) {}
}

export interface Route {
  method: HttpMethod;
  path: string;
  access: RouteAccess;
  handler: RouteHandler;
  /** One line for the API reference. */
  description: string;
  /** 'raw': the body is handed over as bytes (context.rawBody), not parsed as JSON. */
  body?: 'json' | 'raw';
  /** This route's body limit, when it differs from api.max_body_bytes. */
  maxBodyBytes?: number;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Headers of the error answer (`Retry-After` for a 429 or 503). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}
