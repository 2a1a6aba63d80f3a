// Platus' services.yaml in conf.d (agent/config/platus.ts): found by its shape, each service a
// check of our type for its plugin with Platus' property names mapped onto that type's keys, and
// every mistake one config error at its file and line.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckDefinitionSchema } from '../../agent/checks/definition.js';
import { IN_AGENT_SPAWNER } from '../../agent/checks/nagios/spawn-in-agent.js';
import { CHECK_TYPES } from '../../agent/checks/registry.js';
import { checkRuleErrors } from '../../agent/checks/rules.js';
import { ConfigErrors, type Definition, loadConfig, type LoadedConfig } from '../../agent/config/index.js';
import { platusOriginOf } from '../../agent/config/platus.js';
import { Evaluator } from '../../agent/evaluator/index.js';
import { fakeProviders } from '../evaluator/helpers.js';
import { cleanupAll, tempDir } from '../helpers/agent-process.js';

afterAll(cleanupAll);

/**
 * Platus' own examples (its README and data/services.yaml, github.com/fgouteroux/platus), one
 * service of every plugin and every rest_http variant in one file. The README reuses some keys
 * (resource01, aws, gitlab) from one example to the next: renamed here, YAML keys being unique.
 */
export const PLATUS_SERVICES_YAML = String.raw`---
aws:
    role: admin
    type: rest_http
    properties:
        host: status.aws.amazon.com
        port: 443
        protocol: https
    data:
        type: App
        name: myapp01
        search: toto

github:
    role: 
        - app
    type: rest_http
    properties:
        host: status.github.com
        port: 443
        protocol: https
    data:
        type: App
        name: myapp02

resource01:
    type: rest_http
    properties:
        host: resource1.lan
        port: 80
        protocol: http
        username: user
        password: pass
    data:
        type: App
        name: myapp01
        url: /api/v1.0/health

gitlab:
    type: rest_http
    properties:
        host: about.gitlab.com
        port: 443
        protocol: http
    data:
        type: Git
        name: gitlab
        url: /contact/
        search: (\w+[.|\w])*@(\w+[.])*\w+

resource2:
    type: rest_http
    properties:
        host: resource1.lan
        port: 80
        protocol: http
    data:
        type: App
        name: myapp02
        url: /api/v1.0/health
        search:
            db: up
            status: healthy

resource02:
    type: rest_http
    properties:
        host: host02.lan
        port: 8140
        protocol: https
        request_format: text/pson
        cert: "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----"
        key: "-----BEGIN RSA PRIVATE KEY-----\n-----END RSA PRIVATE KEY-----"
    data:
        type: App
        name: app02
        url: /check_health

resource03:
    type: rest_http
    properties:
        host: resource1.lan
        port: 80
        protocol: http
        token: token123456
    data:
        type: App
        name: myapp01
        url: /api/v1.0/health

resource04:
    type: rest_http
    properties:
        host: resource1.lan
        port: 80
        protocol: http
        vault_username: resource01_username
        vault_password: resource01_password

mongodb:
    type: mongodb
    properties:
        host:
            - host1.lan
            - host2.lan
            - host3.lan
        username: user
        password: pass
        port: 27017
        protocol: mongodb
    data:
        type: Database
        name: mongodb

celery:
    type: celery_worker
    properties:
        host: celery.lan
        port: 5672
        transport: amqp
        username: user
        password: pass
    data:
        type: Worker
        name: celery_w

ec2:
    role: admin
    type: aws_ec2
    properties:
        region: "eu-central-1"
        access_key: "aws-access-key"
        secret_key: "aws-secret-key"
    data:
        type: Infra
        name: EC2 Instance

aws_ids:
    type: aws_ec2
    properties:
        region: "eu-central-1"
        access_key: "myaccesskey"
        secret_key: "mysecretkey"
    data:
        type: Infra
        name: EC2 Instance
        ec2_instance_ids:
            - i-xxxxxxxxxdb9ba68f
            - i-xxxxxxxxxdb8be69b

aws_filters:
    type: aws_ec2
    properties:
        region: "eu-central-1"
        access_key: "myaccesskey"
        secret_key: "mysecretkey"
    data:
        type: Infra
        name: EC2 Instance
        ec2_filters:
            - Name: tag:Name
              Values:
                  - test
`;

const compiler = new Evaluator(fakeProviders());

/** conf.d holding `files`; the loader's errors (without the dir) or the loaded config. */
function load(files: Record<string, string>): { config?: LoadedConfig; errors: string[]; dir: string } {
  const dir = tempDir();
  mkdirSync(join(dir, 'conf.d'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, 'conf.d', name), text);
  try {
    const config = loadConfig({
      configDir: dir,
      packDirs: [],
      definitionSchemas: { check: CheckDefinitionSchema },
    });
    return { config, errors: [], dir };
  } catch (error) {
    if (!(error instanceof ConfigErrors)) throw error;
    return { errors: error.errors.map((each) => each.message.replace(`${dir}/`, '')), dir };
  }
}

/** The checks' own load-time rules (types, their keys, create()), as the agent runs them. */
function ruleErrors(definitions: readonly Definition[], dir: string): string[] {
  return checkRuleErrors(definitions, {
    types: CHECK_TYPES,
    compile: (expression) => compiler.compile(expression),
    dependencies: {
      evaluator: compiler,
      nagiosPluginsDir: '/usr/lib/nagios/plugins',
      pluginSpawner: IN_AGENT_SPAWNER,
    },
    packs: [],
  }).map((error) => error.message.replace(`${dir}/`, ''));
}

function lineOf(text: string, needle: string): number {
  const index = text.split('\n').findIndex((line) => line.startsWith(needle));
  if (index < 0) throw new Error(`no line starting with ${needle}`);
  return index + 1;
}

describe("Platus' services.yaml in conf.d", () => {
  const { config, errors, dir } = load({ 'services.yaml': PLATUS_SERVICES_YAML });
  const checks = new Map(config?.definitions.map((definition) => [definition.name, definition]));
  const bodyOf = (name: string) => {
    const definition = checks.get(name);
    if (!definition) throw new Error(`no check ${name}`);
    return definition.body;
  };

  it('loads every service as a check, named by its key, at the line of its key', () => {
    expect(errors).toEqual([]);
    expect(config!.warnings).toEqual([]);
    expect([...checks.keys()]).toEqual([
      'aws',
      'github',
      'resource01',
      'gitlab',
      'resource2',
      'resource02',
      'resource03',
      'resource04',
      'mongodb',
      'celery',
      'ec2',
      'aws_ids',
      'aws_filters',
    ]);
    for (const definition of checks.values()) {
      expect(definition.kind).toBe('check');
      expect(definition.source).toMatchObject({
        file: join(dir, 'conf.d', 'services.yaml'),
        line: lineOf(PLATUS_SERVICES_YAML, `${definition.name}:`),
      });
    }
  });

  it('rest_http becomes http: host, port, protocol, data.url as path, only a 200 operational', () => {
    expect(bodyOf('resource01')).toMatchObject({
      name: 'resource01',
      type: 'http',
      display_name: 'myapp01',
      host: 'resource1.lan',
      port: 80,
      protocol: 'http',
      path: '/api/v1.0/health',
      username: 'user',
      password: 'pass',
      expected_status: 200,
      request_headers: { 'content-type': 'application/json', accept: 'application/json' },
      // The check's own keys, defaults filled.
      interval: '60s',
      timeout: '30s',
      max_attempts: 3,
      enabled: true,
    });
    // Platus searches a text with re.search (a regular expression), a mapping in the JSON body.
    expect(bodyOf('aws')).toMatchObject({ search_regex: 'toto', protocol: 'https', port: 443 });
    expect(bodyOf('aws')).not.toHaveProperty('search');
    expect(bodyOf('gitlab')).toMatchObject({ search_regex: String.raw`(\w+[.|\w])*@(\w+[.])*\w+` });
    expect(bodyOf('resource2')).toMatchObject({ search: { db: 'up', status: 'healthy' } });
    // request_format sets both headers; cert and key as they are.
    expect(bodyOf('resource02')).toMatchObject({
      request_headers: { 'content-type': 'text/pson', accept: 'text/pson' },
      cert: '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----',
      key: '-----BEGIN RSA PRIVATE KEY-----\n-----END RSA PRIVATE KEY-----',
    });
    // A token goes in PRIVATE-TOKEN, as Platus sends it.
    expect(bodyOf('resource03')).toMatchObject({ token: 'token123456', token_header: 'PRIVATE-TOKEN' });
    // vault_* kept for Vault to resolve.
    expect(bodyOf('resource04')).toMatchObject({
      vault_username: 'resource01_username',
      vault_password: 'resource01_password',
    });
    // Without data: named after the key, typed after the plugin.
    expect(platusOriginOf(bodyOf('resource04').notes as string)).toMatchObject({
      name: 'resource04',
      type: 'rest_http',
    });
    // Platus' own keys are not left in the body.
    for (const key of ['role', 'properties', 'data', 'url', 'request_format'])
      expect(bodyOf('resource02')).not.toHaveProperty(key);
  });

  it('mongodb: every host with the port as hosts; celery_worker: Platus broker URL; aws_ec2: our key names', () => {
    expect(bodyOf('mongodb')).toMatchObject({
      type: 'mongodb',
      hosts: ['host1.lan:27017', 'host2.lan:27017', 'host3.lan:27017'],
      username: 'user',
      password: 'pass',
    });
    for (const key of ['host', 'port', 'protocol']) expect(bodyOf('mongodb')).not.toHaveProperty(key);
    // Platus names the virtual host after the host.
    expect(bodyOf('celery')).toMatchObject({
      type: 'celery',
      broker: 'amqp://user:pass@celery.lan:5672/celery.lan',
    });
    for (const key of ['host', 'port', 'transport', 'username', 'password'])
      expect(bodyOf('celery')).not.toHaveProperty(key);
    expect(bodyOf('ec2')).toMatchObject({
      type: 'aws_ec2',
      region: 'eu-central-1',
      access_key_id: 'aws-access-key',
      secret_access_key: 'aws-secret-key',
    });
    // Platus watches every instance of the region when given no ids nor filters.
    expect(bodyOf('ec2')).toMatchObject({
      ec2_filters: {
        'instance-state-name': ['pending', 'running', 'shutting-down', 'terminated', 'stopping', 'stopped'],
      },
    });
    expect(bodyOf('aws_ids')).toMatchObject({
      ec2_instance_ids: ['i-xxxxxxxxxdb9ba68f', 'i-xxxxxxxxxdb8be69b'],
    });
    expect(bodyOf('aws_ids')).not.toHaveProperty('ec2_filters');
    // boto3's [{Name, Values}] as our mapping.
    expect(bodyOf('aws_filters')).toMatchObject({ ec2_filters: { 'tag:Name': ['test'] } });
  });

  it("keeps what Platus' answers say of each service, and its role, in the check's notes", () => {
    expect(platusOriginOf(bodyOf('aws').notes as string)).toEqual({
      service: 'aws',
      plugin: 'rest_http',
      type: 'App',
      name: 'myapp01',
      node: 'status.aws.amazon.com',
      role: ['admin'],
    });
    expect(platusOriginOf(bodyOf('github').notes as string)).toMatchObject({ role: ['app'] });
    expect(platusOriginOf(bodyOf('mongodb').notes as string)).toMatchObject({
      plugin: 'mongodb',
      type: 'Database',
      name: 'mongodb',
      node: 'host1.lan,host2.lan,host3.lan',
      role: [],
    });
    expect(platusOriginOf(bodyOf('celery').notes as string)).toMatchObject({
      type: 'Worker',
      node: 'celery.lan',
    });
    expect(platusOriginOf(bodyOf('ec2').notes as string)).toMatchObject({
      type: 'Infra',
      name: 'EC2 Instance',
      node: 'eu-central-1',
    });
    expect(platusOriginOf('a note of an operator')).toBeUndefined();
    expect(platusOriginOf('platus: {not json')).toBeUndefined();
  });

  it("passes the check types' own rules (keys, create()), vault_* left to Vault", () => {
    // This test's agent has no Vault settings: a vault_ key is refused, at its service's line.
    const line = lineOf(PLATUS_SERVICES_YAML, 'resource04:');
    expect(ruleErrors([...checks.values()], dir)).toEqual([
      expect.stringMatching(
        new RegExp(`^conf\\.d/services\\.yaml:${line}: check resource04: vault_username: .*Vault`),
      ) as unknown as string,
    ]);
  });
});

describe('a Platus services file: found by its shape, refused with file:line', () => {
  it('whatever its name; a conf.d file of settings or definitions is read as before', () => {
    const { config, errors } = load({
      'web-status.yml':
        'web:\n  type: rest_http\n  properties: {host: 127.0.0.1, port: 8080, protocol: http}\n  data: {type: App, name: web}\n',
      'settings.yml': 'node_name: n1\n',
      'check.yml': 'check:\n  name: plain\n  type: http\n  url: http://127.0.0.1/\n',
    });
    expect(errors).toEqual([]);
    expect(config!.settings.node_name).toBe('n1');
    expect(
      config!.definitions.map((definition) => `${definition.name}:${String(definition.body.type)}`),
    ).toEqual(['plain:http', 'web:http']);
  });

  it('an unknown type is refused at the line of its type:, naming the known ones', () => {
    const text =
      'web:\n  type: rest_http\n  properties: {host: web.lan}\n\ncache:\n  role: ops\n  type: redis_ping\n  properties: {host: cache.lan}\n';
    const { errors } = load({ 'services.yaml': text });
    expect(errors).toEqual([
      'conf.d/services.yaml:7: cache.type: unknown Platus service type "redis_ping" (known: rest_http, mongodb, celery_worker, aws_ec2)',
    ]);
  });

  it('an entry that is no service, a missing host, a bad role or filter: each at its line', () => {
    const text = [
      'web:', // 1
      '  type: rest_http',
      '  properties: {host: web.lan}',
      'api:', // 4
      '  bind: 127.0.0.1',
      'db:', // 6
      '  type: mongodb',
      '  properties: {port: 27017}',
      'ops:', // 9
      '  type: rest_http',
      '  role: {team: ops}',
      '  properties: {host: ops.lan}',
      'fleet:', // 13
      '  type: aws_ec2',
      '  properties: {region: eu-west-1}',
      '  data:',
      '    ec2_filters: [{Values: [x]}]',
      'slow:', // 18
      '  type: rest_http',
      '  interval: soon',
      '  properties: {host: slow.lan}',
      '',
    ].join('\n');
    const { errors } = load({ 'services.yaml': text });
    expect(errors).toEqual([
      'conf.d/services.yaml:4: api: expected a Platus service (this file holds Platus services): a mapping with type:, properties: and data:',
      "conf.d/services.yaml:8: db.properties: host: is required by Platus' mongodb",
      'conf.d/services.yaml:11: ops.role: expected a role or a list of roles',
      'conf.d/services.yaml:17: fleet.data.ec2_filters[0]: expected {Name: ..., Values: [...]}',
      expect.stringMatching(/^conf\.d\/services\.yaml:20: slow\.interval: /) as unknown as string,
    ]);
  });

  it("a check's own keys beside a service's are kept; a type's rule points at the Platus key", () => {
    const text = [
      'web:',
      '  type: rest_http',
      '  interval: 10s',
      '  max_attempts: 1',
      '  properties:',
      '    host: web.lan',
      '    protocol: gopher',
      '    port: "8080"',
      '',
    ].join('\n');
    const { config, errors, dir } = load({ 'services.yaml': text });
    expect(errors).toEqual([]);
    const web = config!.definitions[0]!;
    expect(web.body).toMatchObject({ interval: '10s', max_attempts: 1, port: 8080 });
    expect(ruleErrors(config!.definitions, dir)).toEqual([
      expect.stringMatching(/^conf\.d\/services\.yaml:7: check web: protocol: http: /) as unknown as string,
    ]);
  });

  it('celery_worker: a login from Vault is refused (it goes in the URL); a broker: of ours is taken', () => {
    const vaulted = [
      'jobs:',
      '  type: celery_worker',
      '  properties:',
      '    host: mq.lan',
      '    vault_username: mq_user',
      '    vault_password: mq_password',
      '',
    ].join('\n');
    expect(load({ 'services.yaml': vaulted }).errors).toEqual([
      'conf.d/services.yaml:5: jobs.properties.vault_username: the celery check takes its login in the broker URL, of which Vault cannot give a part: give username: and password:, or the whole URL as broker: (or vault_broker: naming a secret key that holds it)',
    ]);
    const own = [
      'jobs:',
      '  type: celery_worker',
      '  properties:',
      '    vault_broker: mq_url',
      '    min_workers: 2',
      '  data: {type: Worker, name: jobs, workers: [celery@w1]}',
      'other:',
      '  type: celery_worker',
      '  properties: {broker: "amqp://u:p@mq2.lan/jobs", transport: amqp, port: 5672}',
      '',
    ].join('\n');
    const { config, errors } = load({ 'services.yaml': own });
    expect(errors).toEqual([]);
    const [jobs, other] = config!.definitions;
    expect(jobs!.body).toMatchObject({
      type: 'celery',
      vault_broker: 'mq_url',
      min_workers: 2,
      workers: ['celery@w1'],
    });
    expect(jobs!.body).not.toHaveProperty('broker');
    expect(other!.body).toMatchObject({ broker: 'amqp://u:p@mq2.lan/jobs' });
    for (const key of ['transport', 'port']) expect(other!.body).not.toHaveProperty(key);
    expect(platusOriginOf(other!.body.notes as string)).toMatchObject({ node: 'mq2.lan' });
  });

  it('a service key that is no check name is made one; a clash with another check is refused', () => {
    const { config, errors } = load({
      'services.yaml': '"my app":\n  type: rest_http\n  properties: {host: a.lan}\n',
    });
    expect(errors).toEqual([]);
    expect(config!.definitions.map((definition) => definition.name)).toEqual(['my_app']);
    const clash = load({
      'a.yml': 'check: {name: web, type: http, url: "http://x/"}\n',
      'services.yaml':
        'other:\n  type: rest_http\n  properties: {host: b.lan}\nweb:\n  type: rest_http\n  properties: {host: a.lan}\n',
    });
    expect(clash.errors).toEqual([
      expect.stringMatching(
        /^conf\.d\/services\.yaml:4: a check named web is already defined at .*a\.yml:1/,
      ) as unknown as string,
    ]);
  });
});
