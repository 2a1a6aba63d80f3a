// A stand-in for HashiCorp Vault's KV secrets engines on 127.0.0.1, answering as Vault does:
// version 2 at GET /v1/{mount}/data/{path} (.data.data, with the version's metadata), version 1 at
// GET /v1/{mount}/{path} (.data), 403 {"errors":["permission denied"]} for a token it does not
// know, 404 {"errors":[]} for a secret it does not have (and, for a version-1 path on a version-2
// mount, 404 with Vault's warning). Every request is recorded, with the token it carried.
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface Mount {
  version: 1 | 2;
  /** path -> the secret's current key-value pairs, and its version (v2). */
  secrets: Map<string, { data: Record<string, unknown>; version: number }>;
}

export class FakeVault {
  /** The token Vault accepts (X-Vault-Token). */
  token = 'hvs.test-token-0123456789';
  readonly requests: Array<{ method: string; url: string; token?: string }> = [];
  private readonly mounts = new Map<string, Mount>();
  private server?: Server;
  private port = 0;

  get address(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Mounts a KV engine of `version` at `mount` (e.g. secret, kv). */
  mount(mount: string, version: 1 | 2): this {
    this.mounts.set(mount, { version, secrets: new Map() });
    return this;
  }

  /** Writes the secret (a new version, as `vault kv put` does). */
  put(mount: string, path: string, data: Record<string, unknown>): void {
    const engine = this.mounts.get(mount);
    if (!engine) throw new Error(`no mount ${mount}`);
    const version = (engine.secrets.get(path)?.version ?? 0) + 1;
    engine.secrets.set(path, { data: { ...data }, version });
  }

  async start(): Promise<this> {
    this.server = createServer((request, response) => {
      const token = request.headers['x-vault-token'];
      this.requests.push({
        method: request.method ?? '',
        url: request.url ?? '',
        ...(typeof token === 'string' ? { token } : {}),
      });
      request.resume();
      request.on('end', () => this.answer(request.method ?? '', request.url ?? '', token, response));
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** Stops answering (the port is then refused); start() again listens on the same port. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }

  private answer(method: string, url: string, token: unknown, response: ServerResponse): void {
    const send = (status: number, body: unknown): void => {
      response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      response.end(`${JSON.stringify(body)}\n`);
    };
    if (token !== this.token) return send(403, { errors: ['permission denied'] });
    const match = /^\/v1\/(.+)$/.exec(decodeURI(url.split('?')[0] ?? ''));
    if (method !== 'GET' || !match) return send(405, { errors: [] });
    for (const [name, engine] of this.mounts) {
      if (!match[1]!.startsWith(`${name}/`)) continue;
      const rest = match[1]!.slice(name.length + 1);
      if (engine.version === 2) {
        if (!rest.startsWith('data/'))
          return send(404, {
            request_id: randomUUID(),
            lease_id: '',
            renewable: false,
            lease_duration: 0,
            data: null,
            wrap_info: null,
            warnings: [
              "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv get' for this operation.",
            ],
            auth: null,
          });
        const secret = engine.secrets.get(rest.slice('data/'.length));
        if (!secret) return send(404, { errors: [] });
        return send(200, {
          request_id: randomUUID(),
          lease_id: '',
          renewable: false,
          lease_duration: 0,
          data: {
            data: secret.data,
            metadata: {
              created_time: '2026-12-05T00:00:00.000000Z',
              custom_metadata: null,
              deletion_time: '',
              destroyed: false,
              version: secret.version,
            },
          },
          wrap_info: null,
          warnings: null,
          auth: null,
          mount_type: 'kv',
        });
      }
      const secret = engine.secrets.get(rest);
      if (!secret) return send(404, { errors: [] });
      return send(200, {
        request_id: randomUUID(),
        lease_id: '',
        renewable: false,
        lease_duration: 2764800,
        data: secret.data,
        wrap_info: null,
        warnings: null,
        auth: null,
        mount_type: 'kv',
      });
    }
    // Vault answers a path under no mount so.
    return send(404, { errors: [`no handler for route "${match[1]}". route entry not found.`] });
  }
}
