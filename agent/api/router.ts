// Routes offered by subsystems, matched by method and path. Paths may hold parameters
// (`/kv/:key`) and a trailing catch-all (`/kv/:key*` takes the rest of the path, slashes included).
import type { HttpMethod, Role, Route, RouteAccess } from '../shared/http.js';

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
