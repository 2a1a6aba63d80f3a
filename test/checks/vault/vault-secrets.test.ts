// vault_<key>: values from a Vault (the stand-in of fake-vault.ts, KV v1 and v2) through real check
// types against real HTTP servers on 127.0.0.1: the http check's basic-auth password from Vault,
// the secret never in an output, the cache on the test's own clock, and every way a read fails
// (Vault down, the token refused, no such secret, no such key) as UNKNOWN saying so.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type {
  CheckDependencies,
  CheckResult,
  CheckRunner,
  CheckType,
} from '../../../agent/checks/check-type.js';
import { ELASTICSEARCH_CHECK_TYPE } from '../../../agent/checks/types/elasticsearch.js';
import { HTTP_CHECK_TYPE } from '../../../agent/checks/types/http.js';
import { VaultClient } from '../../../agent/checks/vault/client.js';
import { VAULT_STAND_IN, withVaultSecrets } from '../../../agent/checks/vault/secrets.js';
import type { VaultSettings } from '../../../agent/checks/vault/settings.js';
import { runService, SERVICE_DEPENDENCIES } from '../service-fixtures.js';
import { FakeVault } from './fake-vault.js';

/** A password with characters that JSON escapes and URLs encode: each form must be hidden. */
const SECRET = 'pa"ss\\w0rd/+&=x9';
const TTL_MS = 300_000;

const runners: CheckRunner[] = [];
const servers: Server[] = [];
const vaults: FakeVault[] = [];
const clients: VaultClient[] = [];

afterEach(async () => {
  for (const runner of runners.splice(0)) await runner.close?.();
  for (const client of clients.splice(0)) await client.close();
  for (const vault of vaults.splice(0)) await vault.stop();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** The test's clock: the cache's time moves only when a test moves it. */
class Clock {
  now = 0;
  readonly time = { monotonicNow: () => this.now };
}

async function vaultWith(secrets: Record<string, unknown> = { db_password: SECRET }): Promise<FakeVault> {
  const vault = new FakeVault().mount('secret', 2).mount('kv', 1);
  vault.put('secret', 'opsbro/checks', secrets);
  vaults.push(vault);
  return vault.start();
}

function client(vault: FakeVault, clock: Clock, settings: Partial<VaultSettings> = {}): VaultClient {
  const made = new VaultClient(
    {
      address: new URL(vault.address),
      token: vault.token,
      mount: 'secret',
      path: 'opsbro/checks',
      kvVersion: 2,
      cacheTtlMs: TTL_MS,
      ...settings,
    },
    { time: clock.time },
  );
  clients.push(made);
  return made;
}

/** A service behind basic auth (user ops); `password()` is the one it accepts now. */
async function target(password: () => string): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    requests++;
    const [, encoded = ''] = (request.headers.authorization ?? '').split(' ');
    const [user, ...rest] = Buffer.from(encoded, 'base64').toString('utf8').split(':');
    const given = rest.join(':');
    response.setHeader('content-type', 'application/json');
    if (user !== 'ops' || given !== password()) {
      // A careless service: the password it refused, echoed in its error.
      response.statusCode = 401;
      response.end(JSON.stringify({ error: `wrong password ${given} for ${user}` }));
      return;
    }
    response.end(JSON.stringify({ status: 'UP', message: `welcome ops (password ${given})` }));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests };
}

/** The type, counting the runners it makes with real values and those closed. */
function counted(type: CheckType): CheckType & { made: string[]; closed: number } {
  const counting = {
    ...type,
    made: [] as string[],
    closed: 0,
    create: (spec, dependencies) => {
      const runner = type.create(spec, dependencies);
      const password = spec.body.password;
      if (password === VAULT_STAND_IN) return runner;
      counting.made.push(String(password));
      return {
        run: (context) => runner.run(context),
        close: async () => {
          counting.closed++;
          await runner.close?.();
        },
      };
    },
  } satisfies CheckType & { made: string[]; closed: number };
  return counting;
}

function check(
  body: Record<string, unknown>,
  vault: VaultClient | undefined,
  type: CheckType = HTTP_CHECK_TYPE,
): CheckRunner {
  const dependencies: CheckDependencies = { ...SERVICE_DEPENDENCIES, ...(vault ? { vault } : {}) };
  const runner = withVaultSecrets(type, { name: 'db-api', body, packParameters: {} }, dependencies);
  runners.push(runner);
  return runner;
}

/** Every text of a result that something could show. */
function shown(result: CheckResult): string {
  return JSON.stringify(result);
}

function expectHidden(result: CheckResult, ...secrets: string[]): void {
  for (const secret of [SECRET, JSON.stringify(SECRET).slice(1, -1), encodeURIComponent(SECRET), ...secrets])
    expect(shown(result)).not.toContain(secret);
}

describe('vault_password: in an http check (KV version 2)', () => {
  it('is OK only with the password read from Vault, sent with the token', async () => {
    const vault = await vaultWith({ db_password: SECRET, other: 'not-it' });
    const service = await target(() => SECRET);
    const clock = new Clock();
    const good = await runService(
      check(
        { url: `${service.url}/health`, username: 'ops', vault_password: 'db_password' },
        client(vault, clock),
      ),
    );
    expect(good.state).toBe('ok');
    expect(good.output).toMatch(/^GET http:\/\/127\.0\.0\.1:\d+\/health: HTTP 200 in \d+ ms$/);
    expect(vault.requests).toEqual([
      { method: 'GET', url: '/v1/secret/data/opsbro/checks', token: vault.token },
    ]);

    const wrong = await runService(
      check({ url: `${service.url}/health`, username: 'ops', vault_password: 'other' }, client(vault, clock)),
    );
    expect(wrong.state).toBe('critical');
    expect(wrong.output).toContain('HTTP 401, expected 200-299');
  });

  it('never shows the secret, even when the target echoes it back', async () => {
    const vault = await vaultWith();
    const service = await target(() => SECRET);
    const clock = new Clock();
    // The condition fails and shows the value seen: the body's message, which holds the password.
    const echoed = await runService(
      check(
        {
          url: service.url,
          username: 'ops',
          vault_password: 'db_password',
          conditions: ['[BODY].message == welcome'],
        },
        client(vault, clock),
      ),
    );
    expect(echoed.state).toBe('critical');
    expect(echoed.output).toContain(
      'condition failed: [BODY].message (welcome ops (password ***)) == welcome',
    );
    expectHidden(echoed, vault.token);

    // An error body quoted in the output (elasticsearch quotes what the server said), JSON-escaped.
    const refusing = await target(() => 'something else');
    const quoted = await runService(
      check(
        { url: refusing.url, username: 'ops', vault_password: 'db_password' },
        client(vault, clock),
        ELASTICSEARCH_CHECK_TYPE,
      ),
    );
    expect(quoted.state).not.toBe('ok');
    expect(quoted.output).toContain('HTTP 401 ({"error":"wrong password *** for ops"})');
    expectHidden(quoted, vault.token);
  });

  it('reads Vault once per cache_ttl_s; a value changed in Vault is used after the TTL, in a new runner', async () => {
    const vault = await vaultWith();
    let accepted = SECRET;
    const service = await target(() => accepted);
    const clock = new Clock();
    const type = counted(HTTP_CHECK_TYPE);
    const runner = check(
      { url: service.url, username: 'ops', vault_password: 'db_password' },
      client(vault, clock),
      type,
    );

    expect((await runService(runner)).state).toBe('ok');
    clock.now += TTL_MS - 1;
    expect((await runService(runner)).state).toBe('ok');
    // Within the TTL: no second request to Vault.
    expect(vault.requests).toHaveLength(1);
    clock.now += 1;
    expect((await runService(runner)).state).toBe('ok');
    expect(vault.requests).toHaveLength(2);
    // The same value again: the same runner.
    expect(type.made).toEqual([SECRET]);

    // Rotated: the service and Vault take the new password. Within the TTL the old one is still used.
    accepted = 'n3w-r0tated';
    vault.put('secret', 'opsbro/checks', { db_password: accepted });
    clock.now += 10_000;
    const stale = await runService(runner);
    expect(stale.state).toBe('critical');
    expect(vault.requests).toHaveLength(2);
    clock.now += TTL_MS;
    const fresh = await runService(runner);
    expect(fresh.state).toBe('ok');
    expect(vault.requests).toHaveLength(3);
    expect(type.made).toEqual([SECRET, 'n3w-r0tated']);
    // The runner made with the old value was closed when the new one was made.
    expect(type.closed).toBe(1);
    await runner.close!();
    expect(type.closed).toBe(2);
    expect(service.requests()).toBe(5);
  });

  it('cache_ttl_s 0: Vault is read at every run', async () => {
    const vault = await vaultWith();
    const service = await target(() => SECRET);
    const runner = check(
      { url: service.url, username: 'ops', vault_password: 'db_password' },
      client(vault, new Clock(), { cacheTtlMs: 0 }),
    );
    for (let run = 0; run < 3; run++) expect((await runService(runner)).state).toBe('ok');
    expect(vault.requests).toHaveLength(3);
  });

  it('checks reading one secret at once make one request, and share the cache', async () => {
    const vault = await vaultWith({ db_password: SECRET, api_password: SECRET });
    const service = await target(() => SECRET);
    const shared = client(vault, new Clock());
    const results = await Promise.all(
      ['db_password', 'api_password', 'db_password'].map((key) =>
        runService(check({ url: service.url, username: 'ops', vault_password: key }, shared)),
      ),
    );
    expect(results.map((result) => result.state)).toEqual(['ok', 'ok', 'ok']);
    expect(vault.requests).toHaveLength(1);
    await runService(check({ url: service.url, username: 'ops', vault_password: 'db_password' }, shared));
    expect(vault.requests).toHaveLength(1);
  });

  it('vault_path: reads another secret than checks.vault.path', async () => {
    const vault = await vaultWith({ db_password: 'not-this-one' });
    vault.put('secret', 'teams/db', { password: SECRET });
    const service = await target(() => SECRET);
    const result = await runService(
      check(
        { url: service.url, username: 'ops', vault_password: 'password', vault_path: 'teams/db' },
        client(vault, new Clock()),
      ),
    );
    expect(result.state).toBe('ok');
    expect(vault.requests.map((request) => request.url)).toEqual(['/v1/secret/data/teams/db']);
  });
});

describe('KV version 1', () => {
  it('reads .data at /v1/{mount}/{path}', async () => {
    const vault = await vaultWith();
    vault.put('kv', 'opsbro/checks', { db_password: SECRET });
    const service = await target(() => SECRET);
    const result = await runService(
      check(
        { url: service.url, username: 'ops', vault_password: 'db_password' },
        client(vault, new Clock(), { mount: 'kv', kvVersion: 1 }),
      ),
    );
    expect(result.state).toBe('ok');
    expect(vault.requests.map((request) => request.url)).toEqual(['/v1/kv/opsbro/checks']);
  });

  it("a kv_version that is not the mount's says so", async () => {
    const vault = await vaultWith();
    vault.put('kv', 'opsbro/checks', { db_password: SECRET });
    const service = await target(() => SECRET);
    const body = { url: service.url, username: 'ops', vault_password: 'db_password' };
    const v1OnV2 = await runService(check(body, client(vault, new Clock(), { kvVersion: 1 })));
    expect(v1OnV2.state).toBe('unknown');
    expect(v1OnV2.output).toBe(
      `Vault at ${vault.address}: no secret at secret/opsbro/checks (HTTP 404 for /v1/secret/opsbro/checks: is the path right, and the mount's KV version 1?): Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv get' for this operation.`,
    );
    const v2OnV1 = await runService(check(body, client(vault, new Clock(), { mount: 'kv' })));
    expect(v2OnV1.state).toBe('unknown');
    expect(v2OnV1.output).toContain('no secret at kv/opsbro/checks (HTTP 404 for /v1/kv/data/opsbro/checks');
  });
});

describe('when the value cannot be read: UNKNOWN, saying why', () => {
  const body = (url: string) => ({ url, username: 'ops', vault_password: 'db_password' });

  it('Vault down', async () => {
    const vault = await vaultWith();
    const service = await target(() => SECRET);
    const reader = client(vault, new Clock());
    await vault.stop();
    const result = await runService(check(body(service.url), reader));
    expect(result.state).toBe('unknown');
    expect(result.output).toMatch(
      new RegExp(`^cannot reach Vault at ${vault.address} to read secret/opsbro/checks: .*ECONNREFUSED`),
    );
    expect(service.requests()).toBe(0);
  });

  it('the token refused (403): permission denied, without the token', async () => {
    const vault = await vaultWith();
    const service = await target(() => SECRET);
    const runner = check(body(service.url), client(vault, new Clock(), { token: 'hvs.revoked-token-xyz' }));
    const result = await runService(runner);
    expect(result).toEqual({
      state: 'unknown',
      output: `Vault at ${vault.address} refused to read secret/opsbro/checks: permission denied (HTTP 403: the token is not allowed to read /v1/secret/data/opsbro/checks, or has expired)`,
      perfdata: [],
    });
    expect(vault.requests[0]!.token).toBe('hvs.revoked-token-xyz');
    expect(shown(result)).not.toContain('revoked');
    // A refusal is not cached: the next run asks again.
    await runService(runner);
    expect(vault.requests).toHaveLength(2);
  });

  it('no secret at the path (404)', async () => {
    const vault = await vaultWith();
    const service = await target(() => SECRET);
    const result = await runService(
      check({ ...body(service.url), vault_path: 'opsbro/nope' }, client(vault, new Clock())),
    );
    expect(result.state).toBe('unknown');
    expect(result.output).toBe(
      `Vault at ${vault.address}: no secret at secret/opsbro/nope (HTTP 404 for /v1/secret/data/opsbro/nope: is the path right, and the mount's KV version 2?)`,
    );
  });

  it('no such key in the secret, or a key that is not text', async () => {
    const vault = await vaultWith({ db_password: SECRET, port: 5432 });
    const service = await target(() => SECRET);
    const missing = await runService(
      check({ ...body(service.url), vault_password: 'db_pasword' }, client(vault, new Clock())),
    );
    expect(missing).toEqual({
      state: 'unknown',
      output: `the Vault secret secret/opsbro/checks (at ${vault.address}) has no key "db_pasword" (for vault_password:)`,
      perfdata: [],
    });
    const number = await runService(
      check({ ...body(service.url), vault_password: 'port' }, client(vault, new Clock())),
    );
    expect(number.output).toBe(
      `the Vault secret secret/opsbro/checks (at ${vault.address}): key "port" holds a number, not text (for vault_password:)`,
    );
    expect(service.requests()).toBe(0);
  });

  it('a value the type refuses: its words, without the value (every value read is hidden)', async () => {
    const vault = await vaultWith({ db_password: SECRET, url: `not a url ${SECRET}` });
    // At load, the stand-in for url: is no URL: that waits for the real value.
    const result = await runService(
      check({ vault_url: 'url', username: 'ops', vault_password: 'db_password' }, client(vault, new Clock())),
    );
    expect(result.state).toBe('unknown');
    expect(result.output).toBe('with the values read from Vault: url: "***" is not a URL');
    expectHidden(result);
  });
});
