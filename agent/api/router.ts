// Routes offered by subsystems, matched by method and path. Paths may hold parameters
// (`/kv/:key`) and a trailing catch-all (`/kv/:key*` takes the rest of the path, slashes included).

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
  /** Parsed JSON body (undefined when the request had none). */
  body: unknown;
  principal: Principal;
  connection: ConnectionInfo;
}

/** A handler returns the JSON body of a 200, or throws HttpError. */
export type RouteHandler = (context: RequestContext) => unknown;

export interface Route {
  method: HttpMethod;
  path: string;
  access: RouteAccess;
  handler: RouteHandler;
  /** One line for the API reference. */
  description: string;
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

const ROUTE_ACCESS: readonly RouteAccess[] = ['public', 'read', 'admin'];

/** Whether a caller with `role` may use a route declaring `access`. */
export function allows(access: RouteAccess, role: Role | undefined): boolean {
  if (access === 'public') return true;
  if (access === 'read') return role !== undefined;
  return role === 'admin';
}

interface CompiledRoute extends Route {
  pattern: RegExp;
  names: string[];
}

export type RouteMatch =
  | { kind: 'found'; route: Route; params: Record<string, string> }
  | { kind: 'wrong-method'; allowed: HttpMethod[] }
  | { kind: 'not-found' }
  /** A parameter with broken percent-encoding. */
  | { kind: 'bad-path' };

export class Router {
  private readonly routes: CompiledRoute[] = [];

  add(routes: Route[]): void {
    for (const route of routes) {
      const duplicate = this.routes.find(
        (other) => other.method === route.method && other.path === route.path,
      );
      if (duplicate) throw new Error(`route ${route.method} ${route.path} registered twice`);
      // Checked at run time too: a route built from untyped code must still say who may call it.
      if (!ROUTE_ACCESS.includes(route.access))
        throw new Error(`route ${route.method} ${route.path} declares no access (public, read or admin)`);
      this.routes.push({ ...route, ...compile(route.path) });
    }
  }

  list(): Route[] {
    return this.routes.map(({ method, path, access, handler, description }) => ({
      method,
      path,
      access,
      handler,
      description,
    }));
  }

  match(method: string, pathname: string): RouteMatch {
    const allowed: HttpMethod[] = [];
    for (const route of this.routes) {
      const found = route.pattern.exec(pathname);
      if (!found) continue;
      if (route.method !== method) {
        allowed.push(route.method);
        continue;
      }
      const params: Record<string, string> = {};
      try {
        route.names.forEach((name, index) => (params[name] = decodeURIComponent(found[index + 1] ?? '')));
      } catch {
        return { kind: 'bad-path' };
      }
      return { kind: 'found', route, params };
    }
    return allowed.length ? { kind: 'wrong-method', allowed } : { kind: 'not-found' };
  }
}

function compile(path: string): { pattern: RegExp; names: string[] } {
  const names: string[] = [];
  const source = path
    .split('/')
    .map((segment) => {
      const parameter = /^:([a-z_]+)(\*)?$/i.exec(segment);
      if (!parameter) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(parameter[1]!);
      return parameter[2] ? '(.+)' : '([^/]+)';
    })
    .join('/');
  return { pattern: new RegExp(`^${source}/?$`), names };
}
