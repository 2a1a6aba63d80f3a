// The HTTP API. It never imports a subsystem: subsystems offer routes, main hands them over.
export { HttpApi, type HttpApiOptions } from './server.js';
export { bodyParser, type BodyParser } from './body.js';
export {
  HttpError,
  Router,
  type Route,
  type RouteHandler,
  type RequestContext,
  type HttpMethod,
  type Principal,
  type Role,
  type RouteAccess,
} from './router.js';
export { isLoopback, localTokenProof, TokenAuthenticator, type ApiToken } from './auth.js';
