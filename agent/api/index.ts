// The HTTP API. It never imports a subsystem: subsystems offer routes (agent/shared/http.ts), main
// hands them over.
export { HttpApi, type HttpApiOptions } from './server.js';
export { Router } from './router.js';
export { TokenAuthenticator, type ApiToken } from './auth.js';
