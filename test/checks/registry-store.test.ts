// megaphone's runtime registry without an agent: what a registration may hold and the json_status
// definition it becomes (megaphone's slash jsonpath, its `url|path` form, statusoverride false),
// the data-dir file kept and restored (a damaged file logged, set aside and survived), and the
// checks subsystem's register/unregister: a configured name refused, the bound, a reload that
// keeps registrations, a configured check that takes a registered name.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CheckDefinitionSchema } from '../../agent/checks/definition.js';
import { MemoryCheckHistory } from '../../agent/checks/memory-history.js';
import { OVERRIDE_FILE } from '../../agent/checks/override-store.js';
import {
  definitionOf,
  jsonPathOf,
  MAX_REGISTRATIONS,
  parseRegistration,
  REGISTRY_FILE,
  RegistrationRefused,
  RegistryStore,
} from '../../agent/checks/registry-store.js';
import { ChecksSubsystem } from '../../agent/checks/subsystem.js';
import { JSON_STATUS_CHECK_TYPE } from '../../agent/checks/types/json-status.js';
import type { Definition, LoadedConfig } from '../../agent/config/index.js';
import { EventBus } from '../../agent/events/index.js';
import { Logger } from '../../agent/log/index.js';
import type { MegaphoneRegistration } from '../../agent/shared/api-types.js';
import { schemaCheck } from '../../agent/shared/schema-check.js';
import { cleanupAll, tempDir } from '../helpers/agent-process.js';
import { runService, SERVICE_DEPENDENCIES } from './service-fixtures.js';

afterAll(cleanupAll);

const AT = '2026-12-05T10:00:00.000Z';

const registration = (id: string, url: MegaphoneRegistration['url'] = 'http://127.0.0.1:1/status') =>
  parseRegistration({ id, url }, AT) as MegaphoneRegistration;

describe('a registration', () => {
  it("takes megaphone's two forms and opsbro's timing; registered_at from the file or now", () => {
    expect(parseRegistration({ id: 'billing', url: 'http://127.0.0.1:8080/status' }, AT)).toEqual({
      id: 'billing',
      url: 'http://127.0.0.1:8080/status',
      registered_at: AT,
    });
    const object = {
      id: 'adi',
      url: { addr: 'http://127.0.0.1:18003/status/adi', jsonpath: 'megaphone/status', statusoverride: false },
      interval: '10s',
      max_attempts: 1,
      registered_at: '2020-01-01T00:00:00.000Z',
    };
    expect(parseRegistration(object, AT)).toEqual(object);
  });

  it.each([
    [{ url: 'http://x/' }, /must have required property 'id'/],
    [{ id: 'billing' }, /must have required property 'url'/],
    [{ id: 'bad name', url: 'http://x/' }, /^id: "bad name" is not a check name: letters, digits, _ \. -/],
    [{ id: '..', url: 'http://x/' }, /not only dots/],
    [{ id: 'x'.repeat(129), url: 'http://x/' }, /at most 128 characters/],
    [{ id: 'a', url: '' }, /^url: from 1 to 2048 characters/],
    [{ id: 'a', url: 'http://x/' + 'y'.repeat(2048) }, /^url: from 1 to 2048/],
    [{ id: 'a', url: 42 }, /^url: a status URL, or an object/],
    [{ id: 'a', url: { jsonpath: 'a/b' } }, /^url: must have required property 'addr'/],
    [{ id: 'a', url: { addr: 'http://x/', extra: 1 } }, /^url: unknown field "extra"/],
    [{ id: 'a', url: { addr: 'http://x/', jsonpath: 7 } }, /^url\.jsonpath: must be string/],
    [
      { id: 'a', url: { addr: 'http://x/', statusoverride: 'fine' } },
      /statusoverride: "fine": one of OK, Unknown/,
    ],
    [
      { id: 'a', url: { addr: 'http://x/', jsonpath: 'a.b/c' } },
      /^url\.jsonpath: "a\.b\/c": megaphone's form/,
    ],
    [{ id: 'a', url: 'http://x/', interval: '100ms' }, /^interval: from 1s to 24h/],
    [{ id: 'a', url: 'http://x/', timeout: '1h' }, /^timeout: at most 5m/],
    [{ id: 'a', url: 'http://x/', max_attempts: 0 }, /max_attempts: must be >= 1/],
    [{ id: 'a', url: 'http://x/', name: 'other' }, /unknown field "name"/],
  ])('refuses %j, saying why', (body, problem) => {
    const parsed = parseRegistration(body, AT);
    expect(typeof parsed).toBe('string');
    expect(parsed).toMatch(problem);
  });

  it("becomes a json_status check: megaphone's slash jsonpath, its url|path form, statusoverride false ignored", () => {
    expect(jsonPathOf('megaphone/status')).toBe('$.megaphone.status');
    expect(jsonPathOf('/a//b/')).toBe('$.a.b');
    expect(jsonPathOf('$.checks.db')).toBe('$.checks.db');
    expect(jsonPathOf('status')).toBe('status');
    expect(jsonPathOf('')).toBe('$');
    expect(jsonPathOf('a[0]/b')).toBeUndefined();

    const plain = definitionOf(registration('billing', 'http://127.0.0.1:8080/status'), '/data/r.json');
    expect(plain).toMatchObject({ kind: 'check', name: 'billing', source: { file: '/data/r.json' } });
    expect(plain.body).toEqual({
      name: 'billing',
      type: 'json_status',
      url: 'http://127.0.0.1:8080/status',
      interval: '60s',
      timeout: '30s',
      max_attempts: 3,
      handlers: [],
      enabled: true,
    });
    expect(schemaCheck(CheckDefinitionSchema)(plain.body)).toBe(true);
    expect(definitionOf(registration('p', 'http://h/s|megaphone/status'), 'f').body).toMatchObject({
      url: 'http://h/s',
      jsonpath: '$.megaphone.status',
    });
    const object = definitionOf(
      registration('o', { addr: 'http://h/s', jsonpath: 'a/b', statusoverride: false }),
      'f',
    ).body;
    expect(object).toMatchObject({ addr: 'http://h/s', jsonpath: '$.a.b' });
    expect(object).not.toHaveProperty('statusoverride');
    expect(
      definitionOf(registration('w', { addr: 'http://h/s', statusoverride: 'Warning' }), 'f').body,
    ).toMatchObject({ statusoverride: 'Warning' });
  });

  describe('run against a megaphone-style endpoint', () => {
    let server: Server;
    let base: string;
    const answers: Record<string, unknown> = {
      '/status': { status: 'Warning', message: 'Houston, I think we have a problem.' },
      '/nested': { megaphone: { status: 'Critical' }, version: '2.0.0' },
    };
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    it('the status at the top, or the status itself at a megaphone path', async () => {
      server = createServer((request, response) => {
        response.setHeader('content-type', 'application/json');
        response.end(JSON.stringify(answers[request.url ?? ''] ?? {}));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const run = async (url: MegaphoneRegistration['url']) => {
        const definition = definitionOf(registration('svc', url), 'f');
        const runner = JSON_STATUS_CHECK_TYPE.create(
          { name: 'svc', body: definition.body, packParameters: {} },
          SERVICE_DEPENDENCIES,
        );
        try {
          return await runService(runner);
        } finally {
          await runner.close?.();
        }
      };
      expect(await run(`${base}/status`)).toMatchObject({
        state: 'warning',
        output: 'Houston, I think we have a problem.',
      });
      expect(await run({ addr: `${base}/nested`, jsonpath: 'megaphone/status' })).toMatchObject({
        state: 'critical',
        output: 'status from megaphone.status: Critical',
      });
      expect(await run(`${base}/nested|megaphone/status`)).toMatchObject({ state: 'critical' });
      expect(
        await run({ addr: `${base}/nested`, jsonpath: 'megaphone/status', statusoverride: 'OK' }),
      ).toMatchObject({
        state: 'ok',
        output: expect.stringContaining('reported as OK: statusoverride') as unknown,
      });
    });
  });
});

describe('the registry file', () => {
  const problems: string[] = [];
  afterEach(() => void problems.splice(0));
  const load = (store: RegistryStore) => store.load((problem) => problems.push(problem));

  it('keeps the registrations (0600) and restores them in order; none without a file', () => {
    const path = join(tempDir(), REGISTRY_FILE);
    const store = new RegistryStore(path);
    expect(load(store)).toEqual([]);
    const kept = [registration('b'), registration('a', { addr: 'http://h/', jsonpath: 'x/y' })];
    store.save(kept);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ version: 1, checks: kept });
    expect(load(new RegistryStore(path))).toEqual(kept);
    expect(problems).toEqual([]);
  });

  it.each([
    ['not JSON', '{"version": 1, "checks": [', /not JSON/],
    ['another shape', '{"checks": {}}', /must have required property 'version'|checks: must be array/],
    ['an array', '[]', /must be object/],
  ])(
    'a file that is %s: logged, set aside as .damaged, nothing restored, no throw',
    (_what, text, problem) => {
      const path = join(tempDir(), REGISTRY_FILE);
      writeFileSync(path, text);
      expect(load(new RegistryStore(path))).toEqual([]);
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(problem);
      expect(problems[0]).toContain(`(the file is kept as ${path}.damaged)`);
      expect(readFileSync(`${path}.damaged`, 'utf8')).toBe(text);
    },
  );

  it('bad entries are left out (and the file set aside), the good ones restored; a duplicate id: the last', () => {
    const path = join(tempDir(), REGISTRY_FILE);
    const good = registration('good');
    const later = { ...registration('good', 'http://127.0.0.1:2/'), registered_at: AT };
    writeFileSync(
      path,
      JSON.stringify({
        version: 1,
        checks: [good, { id: 'bad name', url: 'http://x/' }, 'junk', { id: '--global', url: 'r' }, later],
      }),
    );
    expect(load(new RegistryStore(path))).toEqual([later]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/3 entries left out: checks\[1\]: id: "bad name" is not a check name/);
    expect(existsSync(`${path}.damaged`)).toBe(true);
  });

  it(`restores ${MAX_REGISTRATIONS} registrations at most`, () => {
    const path = join(tempDir(), REGISTRY_FILE);
    const many = Array.from({ length: MAX_REGISTRATIONS + 2 }, (_, index) => registration(`c${index}`));
    writeFileSync(path, JSON.stringify({ version: 1, checks: many }));
    expect(load(new RegistryStore(path))).toHaveLength(MAX_REGISTRATIONS);
    expect(problems[0]).toMatch(/2 entries left out: checks\[1000\]: beyond the 1000 registrations kept/);
  });
});

describe('the checks subsystem with registrations', () => {
  const subsystems: ChecksSubsystem[] = [];
  afterEach(async () => {
    for (const subsystem of subsystems.splice(0)) await subsystem.stop();
  });

  const dataDir = tempDir();
  const registryFile = join(dataDir, REGISTRY_FILE);
  const configured: Definition = {
    kind: 'check',
    name: 'configured',
    body: {
      name: 'configured',
      type: 'json_status',
      url: 'http://127.0.0.1:1/',
      interval: '1h',
      timeout: '1s',
      max_attempts: 3,
      handlers: [],
      enabled: true,
    },
    source: { file: '/etc/opsbro/conf.d/checks.yml', line: 4 },
  };
  const config = (definitions: Definition[]) => ({ definitions, packs: [] }) as unknown as LoadedConfig;

  function subsystem(definitions: Definition[] = [configured], file = registryFile): ChecksSubsystem {
    const made = new ChecksSubsystem({
      definitions,
      packs: [],
      types: new Map([[JSON_STATUS_CHECK_TYPE.type, JSON_STATUS_CHECK_TYPE]]),
      dependencies: SERVICE_DEPENDENCIES,
      history: new MemoryCheckHistory(),
      events: new EventBus(),
      logger: Logger.create({ level: 'error', format: 'text', sink: { kind: 'fd', fd: 2 } }),
      node: { name: 'node-1', id: 'id-1', hostname: 'host-1', address: () => '127.0.0.1' },
      groups: () => [],
      overrideFile: join(dataDir, OVERRIDE_FILE),
      registryFile: file,
      collectorsReady: () => Promise.resolve(),
    });
    subsystems.push(made);
    return made;
  }
  const names = (checks: ChecksSubsystem) => checks.statuses().map((status) => status.name);

  it('a registration is a check like the configured ones, kept across a restart and a reload; deleted, gone', async () => {
    const checks = subsystem();
    await checks.start();
    expect(checks.register(registration('billing'))).toEqual({ created: true });
    expect(names(checks)).toEqual(['billing', 'configured']);
    expect(checks.statuses().find((status) => status.name === 'billing')).toMatchObject({
      type: 'json_status',
      interval_s: 60,
      source: `${registryFile}:1`,
    });
    expect(checks.localTable().checks.map((brief) => brief.name)).toEqual(['billing', 'configured']);
    // The same id again replaces it.
    expect(checks.register(registration('billing', 'http://127.0.0.1:2/'))).toEqual({ created: false });
    expect(checks.registered().map((each) => each.url)).toEqual(['http://127.0.0.1:2/']);

    checks.reload(config([configured]));
    expect(names(checks)).toEqual(['billing', 'configured']);
    checks.reload(config([]));
    expect(names(checks)).toEqual(['billing']);
    subsystems.splice(subsystems.indexOf(checks), 1);
    await checks.stop();

    const again = subsystem();
    expect(again.registered().map((each) => each.id)).toEqual(['billing']);
    await again.start();
    expect(names(again)).toEqual(['billing', 'configured']);
    expect(again.unregister('billing')).toBe(true);
    expect(again.unregister('billing')).toBe(false);
    expect(names(again)).toEqual(['configured']);
    expect(JSON.parse(readFileSync(registryFile, 'utf8'))).toEqual({ version: 1, checks: [] });
  });

  it("refuses a configured check's name, a URL json_status refuses, and more than the bound", async () => {
    const checks = subsystem([configured], join(tempDir(), REGISTRY_FILE));
    await checks.start();
    const refusal = (work: () => unknown) => {
      try {
        work();
      } catch (error) {
        expect(error).toBeInstanceOf(RegistrationRefused);
        return error as RegistrationRefused;
      }
      throw new Error('not refused');
    };
    expect(refusal(() => checks.register(registration('configured')))).toMatchObject({
      reason: 'clash',
      message:
        'configured is a configured check (/etc/opsbro/conf.d/checks.yml:4): a registration may not replace it; choose another id',
    });
    expect(refusal(() => checks.register(registration('ftp', 'ftp://h/status')))).toMatchObject({
      reason: 'invalid',
      message: 'check ftp: url: "ftp://h/status": only http:// and https://',
    });
    expect(checks.registered()).toEqual([]);

    const full = join(tempDir(), REGISTRY_FILE);
    new RegistryStore(full).save(
      Array.from({ length: MAX_REGISTRATIONS }, (_, index) => registration(`c${index}`)),
    );
    // Loaded when made: registrations before start() apply at start.
    const loaded = subsystem([configured], full);
    expect(loaded.registered()).toHaveLength(MAX_REGISTRATIONS);
    expect(refusal(() => loaded.register(registration('one-more')))).toMatchObject({
      reason: 'full',
      message: `${MAX_REGISTRATIONS} checks are registered already, the most kept: delete one first (DELETE /checks/ID)`,
    });
    expect(loaded.register(registration('c7', 'http://127.0.0.1:3/'))).toEqual({ created: false });
  });

  it('a configured check that takes a registered name runs instead; the registration stays and returns', async () => {
    const checks = subsystem([], join(tempDir(), REGISTRY_FILE));
    await checks.start();
    checks.register(registration('configured'));
    expect(checks.registeredStatus('configured')).toMatchObject({
      source: expect.stringContaining(REGISTRY_FILE) as unknown,
    });
    checks.reload(config([configured]));
    expect(names(checks)).toEqual(['configured']);
    expect(checks.registeredStatus('configured')).toBeUndefined();
    expect(checks.statuses()[0]!.source).toBe('/etc/opsbro/conf.d/checks.yml:4');
    expect(checks.registered().map((each) => each.id)).toEqual(['configured']);
    checks.reload(config([]));
    expect(checks.registeredStatus('configured')).toMatchObject({ name: 'configured' });
  });
});
