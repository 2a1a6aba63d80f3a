// Routes offered by subsystems, matched by method and path. Paths may hold parameters
// (`/kv/:key`) and a trailing catch-all (`/kv/:key*` takes the rest of the path, slashes included).

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface RequestContext {
  params: Record<string, string>;
  query: URLSearchParams;
  /** Parsed JSON body (undefined when the request had none). */
  body: unknown;
  /** Who is calling: a token's name, or 'local' over the unix socket or an open loopback API. */
  principal: string;
}

/** A handler returns the JSON body of a 200, or throws HttpError. */
export type RouteHandler = (context: RequestContext) => unknown;

export interface Route {
  method: HttpMethod;
  path: string;
  handler: RouteHandler;
  /** One line for the API reference. */
  description: string;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
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
      this.routes.push({ ...route, ...compile(route.path) });
    }
  }

  list(): Route[] {
    return this.routes.map(({ method, path, handler, description }) => ({
      method,
      path,
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
