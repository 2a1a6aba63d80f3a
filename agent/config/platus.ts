// Platus' services.yaml (github.com/fgouteroux/platus), accepted in conf.d as it is: each service
// (`<key>: {role, type, properties, data}`) becomes a `check:` definition of this agent's type for
// its plugin, with Platus' property names mapped onto that type's keys (docs/platus.md). A file is
// read this way by its shape, not its name: a top-level mapping whose keys are no definition kind
// and where a service is (a mapping with `type:` and `properties:`). What Platus' API reports of a
// service (data.type, data.name, the host checked, the role) rides on the check as its notes, where
// GET /api/v1.0/status (checks/platus-routes.ts) reads it back.
import type { DefinitionKinds } from './definition-kinds.js';
import { ConfigError } from './errors.js';
import type { Definition } from './loader.js';
import type { KeyPath, YamlFile } from './yaml-file.js';

/** Platus' plugins and the check type each becomes. */
export const PLATUS_CHECK_TYPES = {
  rest_http: 'http',
  mongodb: 'mongodb',
  celery_worker: 'celery',
  aws_ec2: 'aws_ec2',
} as const;

export type PlatusPlugin = keyof typeof PLATUS_CHECK_TYPES;

/** What a check made from a Platus service keeps of it: what Platus' API says about the service. */
export interface PlatusOrigin {
  /** The service's key in services.yaml. */
  service: string;
  /** Its Platus plugin (`type:`): rest_http, mongodb, celery_worker, aws_ec2. */
  plugin: PlatusPlugin;
  /** `data.type` (App, Database, ...): the `type` of Platus' answers. */
  type: string;
  /** `data.name`: the `name` of Platus' answers. */
  name: string;
  /** What Platus reports as `node`: the host checked (mongodb: its hosts; aws_ec2: the region). */
  node: string;
  /** `role:`: the Platus roles that may see the service (carried; filtering by role is not built). */
  role: string[];
}

/** A definition the loader takes, and where its body sits in the file (the service's key). */
export interface PlatusDefinition {
  definition: Definition;
  path: Array<string | number>;
}

/** The notes of a check made from a Platus service start with this; the origin follows as JSON. */
const NOTES_PREFIX = 'platus: ';

/** The check's notes that carry `origin` (read back by platusOriginOf). */
export function platusNotes(origin: PlatusOrigin): string {
  return NOTES_PREFIX + JSON.stringify(origin);
}

/** The Platus service a check was made from, from its notes; undefined for any other check. */
export function platusOriginOf(notes: string | undefined): PlatusOrigin | undefined {
  if (!notes?.startsWith(NOTES_PREFIX)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(notes.slice(NOTES_PREFIX.length));
  } catch {
    return undefined;
  }
  if (!isMapping(value)) return undefined;
  const { service, plugin, type, name, node, role } = value;
  if (
    typeof service !== 'string' ||
    typeof plugin !== 'string' ||
    !Object.hasOwn(PLATUS_CHECK_TYPES, plugin) ||
    typeof type !== 'string' ||
    typeof name !== 'string' ||
    typeof node !== 'string' ||
    !Array.isArray(role) ||
    !role.every((each) => typeof each === 'string')
  )
    return undefined;
  return { service, plugin: plugin as PlatusPlugin, type, name, node, role: role };
}

/**
 * Whether `data` (a parsed file) is a Platus services file: a mapping with no definition kind among
 * its keys, and a service (a mapping with `type:` and `properties:`) among its values.
 */
export function isPlatusServices(data: unknown, kinds: DefinitionKinds): data is Record<string, unknown> {
  if (!isMapping(data)) return false;
  const entries = Object.entries(data);
  if (entries.some(([key]) => kinds.isKind(key))) return false;
  return entries.some(([, value]) => isMapping(value) && 'type' in value && isMapping(value.properties));
}

/**
 * The check definitions of a Platus services file, or undefined when `file` is not one (the loader
 * reads it as usual then). Every problem is a ConfigError in `errors`, at the line of its key; a
 * service with a problem makes no definition.
 */
export function platusDefinitions(
  file: YamlFile,
  kinds: DefinitionKinds,
  errors: ConfigError[],
): { settings?: undefined; definitions: PlatusDefinition[] } | undefined {
  const data = file.data;
  if (!isPlatusServices(data, kinds)) return undefined;
  const definitions: PlatusDefinition[] = [];
  if (!kinds.isHandled('check')) {
    errors.push(
      new ConfigError(
        { file: file.path, line: 1 },
        `a Platus services file (its services become check: definitions): ${kinds.unhandled('check')}`,
      ),
    );
    return { definitions };
  }
  for (const [key, entry] of Object.entries(data)) {
    const service = new ServiceReader(file, key, errors);
    const body = service.translate(entry);
    if (!body || service.failed) continue;
    definitions.push({
      definition: {
        kind: 'check',
        name: body.name as string,
        body,
        source: { file: file.path, line: file.lineOfKey([], key), keyLines: service.keyLines },
      },
      path: [key],
    });
  }
  return { definitions };
}

/** A check name from a service's key: letters, digits, _ . - (anything else becomes `_`). */
function checkName(key: string): string {
  return key.replace(/[^A-Za-z0-9_.-]/g, '_') || '_';
}

/** The keys of a service besides Platus' own: a check's keys (interval, max_attempts, ...), kept. */
const SERVICE_KEYS = new Set(['role', 'type', 'properties', 'data']);

/**
 * Properties each plugin reads, by Platus' name, and the key of our type each becomes (`vault_<name>`
 * becomes `vault_<key>`, for Vault to resolve). Properties not listed are kept as they are: our
 * type's own keys (insecure, ca, replica_set, ...) may be written there.
 */
const RENAMED_PROPERTIES: Readonly<Record<PlatusPlugin, Readonly<Record<string, string>>>> = {
  rest_http: {
    host: 'host',
    protocol: 'protocol',
    username: 'username',
    password: 'password',
    cert: 'cert',
    key: 'key',
    token: 'token',
  },
  mongodb: { username: 'username', password: 'password' },
  celery_worker: {},
  aws_ec2: { region: 'region', access_key: 'access_key_id', secret_key: 'secret_access_key' },
};

/** Properties a plugin cannot do without (Platus' login() has no default for them). */
const REQUIRED_PROPERTIES: Readonly<Record<PlatusPlugin, readonly string[]>> = {
  rest_http: ['host'],
  mongodb: ['host'],
  celery_worker: [],
  aws_ec2: ['region'],
};

/** Every state of an EC2 instance: the filter that matches all of them. */
const EC2_STATES = ['pending', 'running', 'shutting-down', 'terminated', 'stopping', 'stopped'];

/** Platus' rest_http sends these by default (`request_format` replaces the value). */
const DEFAULT_REQUEST_FORMAT = 'application/json';
/** The header Platus' rest_http carries a `token` in. */
const TOKEN_HEADER = 'PRIVATE-TOKEN';

/** One service of the file turned into a check body, with the line each key came from. */
class ServiceReader {
  readonly keyLines: Record<string, number> = Object.create(null) as Record<string, number>;
  failed = false;
  private readonly body: Record<string, unknown> = {};

  constructor(
    private readonly file: YamlFile,
    private readonly key: string,
    private readonly errors: ConfigError[],
  ) {}

  translate(entry: unknown): Record<string, unknown> | undefined {
    const { key } = this;
    if (!isMapping(entry) || !('type' in entry) || !isMapping(entry.properties)) {
      this.error(
        [key],
        'expected a Platus service (this file holds Platus services): a mapping with type:, properties: and data:',
      );
      return undefined;
    }
    const plugin = entry.type;
    if (typeof plugin !== 'string' || !Object.hasOwn(PLATUS_CHECK_TYPES, plugin)) {
      const shown = typeof plugin === 'string' && this.file.quotable ? ` ${JSON.stringify(plugin)}` : '';
      this.error(
        [key, 'type'],
        `unknown Platus service type${shown} (known: ${Object.keys(PLATUS_CHECK_TYPES).join(', ')})`,
      );
      return undefined;
    }
    const data = entry.data ?? {};
    if (!isMapping(data)) {
      this.error([key, 'data'], 'expected a mapping (type:, name: and what the plugin reads)');
      return undefined;
    }
    const role = this.roles(entry.role);

    // A check's own keys written beside Platus' (interval, max_attempts, handlers ...), as written.
    for (const [name, value] of Object.entries(entry))
      if (!SERVICE_KEYS.has(name)) this.set(name, value, [key, name]);
    const properties = entry.properties;
    const origin = this.translateProperties(plugin as PlatusPlugin, properties);
    this.translateData(plugin as PlatusPlugin, data);
    if (!origin || role === undefined) return undefined;
    // Platus asks for every instance of the region when neither is given; our check asks for them by state.
    if (
      plugin === 'aws_ec2' &&
      this.body.ec2_instance_ids === undefined &&
      this.body.ec2_filters === undefined
    )
      this.set('ec2_filters', { 'instance-state-name': [...EC2_STATES] }, [key, 'data']);

    const name = this.string(data, 'name') ?? key;
    const type = this.string(data, 'type') ?? plugin;
    const platus: PlatusOrigin = {
      service: key,
      plugin: plugin as PlatusPlugin,
      type,
      name,
      node: origin,
      role,
    };
    this.set('name', checkName(key), [key]);
    this.set('type', PLATUS_CHECK_TYPES[plugin as PlatusPlugin], [key, 'type']);
    this.set('display_name', name, [key, 'data', 'name']);
    this.set('notes', platusNotes(platus), [key]);
    return this.body;
  }

  /** `role:` as a list: one role or a list of them; none is an empty list. */
  private roles(value: unknown): string[] | undefined {
    if (value === undefined || value === null) return [];
    if (typeof value === 'string') return [value];
    if (Array.isArray(value) && value.every((each) => typeof each === 'string')) return value;
    this.error([this.key, 'role'], 'expected a role or a list of roles');
    return undefined;
  }

  /** The properties as our keys; answers what Platus reports as the service's node. */
  private translateProperties(plugin: PlatusPlugin, properties: Record<string, unknown>): string | undefined {
    const at = (name: string): KeyPath => [this.key, 'properties', name];
    const renamed = RENAMED_PROPERTIES[plugin];
    const handled = new Set(Object.keys(renamed));
    for (const required of REQUIRED_PROPERTIES[plugin])
      if (properties[required] === undefined && properties[`vault_${required}`] === undefined) {
        this.error([this.key, 'properties'], `${required}: is required by Platus' ${plugin}`);
        return undefined;
      }
    const port = (fallback: number | undefined): unknown => {
      const value = properties.port;
      // Platus calls int(port): "8080" is a port too.
      if (typeof value === 'string' && /^\d+$/.test(value)) return Number(value);
      return value ?? fallback;
    };

    let node: string | undefined;
    switch (plugin) {
      case 'rest_http': {
        // Platus' defaults: https on 443, JSON asked for, and only a 200 is operational.
        this.set('protocol', 'https', at('protocol'));
        this.set('port', port(443), at('port'));
        handled.add('port');
        const format = properties.request_format ?? DEFAULT_REQUEST_FORMAT;
        this.set('request_headers', { 'content-type': format, accept: format }, at('request_format'));
        handled.add('request_format');
        this.set('expected_status', 200, [this.key]);
        if (properties.token !== undefined || properties.vault_token !== undefined)
          this.set(
            'token_header',
            TOKEN_HEADER,
            at(properties.token !== undefined ? 'token' : 'vault_token'),
          );
        if (properties.timeout !== undefined) {
          const timeout = properties.timeout;
          this.set('timeout', typeof timeout === 'number' ? `${timeout}s` : timeout, at('timeout'));
          handled.add('timeout');
        }
        node = String(properties.host ?? properties.vault_host);
        break;
      }
      case 'mongodb': {
        const hosts = properties.host;
        const list = Array.isArray(hosts) ? hosts : [hosts];
        if (hosts !== undefined) {
          if (!list.length || !list.every((host) => typeof host === 'string' && host !== '')) {
            this.error(at('host'), 'expected a host or a list of hosts');
            return undefined;
          }
          const portValue = port(27017);
          this.set(
            'hosts',
            (list as string[]).map((host) => `${host}:${String(portValue)}`),
            at('host'),
          );
          node = (list as string[]).join(',');
        } else node = String(properties.vault_host);
        handled.add('host').add('port');
        const protocol = properties.protocol;
        if (protocol !== undefined && protocol !== 'mongodb') {
          this.error(at('protocol'), "expected mongodb (the only protocol of Platus' mongodb plugin)");
          return undefined;
        }
        handled.add('protocol');
        break;
      }
      case 'celery_worker': {
        for (const name of ['host', 'port', 'transport', 'username', 'password']) handled.add(name);
        const host = properties.host;
        // The operator's own broker: (or vault_broker:, a whole URL from Vault) is taken as it is.
        if (properties.broker !== undefined || properties.vault_broker !== undefined) {
          node = typeof host === 'string' ? host : hostnameOf(properties.broker);
          break;
        }
        const transport = properties.transport ?? 'amqp';
        if (typeof host !== 'string' || host === '' || typeof transport !== 'string') {
          this.error(
            typeof host !== 'string' || host === '' ? at('host') : at('transport'),
            "expected a string (Platus' celery_worker makes the broker URL of host, port and transport)",
          );
          return undefined;
        }
        const vaulted = ['vault_username', 'vault_password'].find((name) => properties[name] !== undefined);
        if (vaulted) {
          this.error(
            at(vaulted),
            'the celery check takes its login in the broker URL, of which Vault cannot give a part: ' +
              'give username: and password:, or the whole URL as broker: (or vault_broker: naming a secret key that holds it)',
          );
          return undefined;
        }
        const { username, password } = properties;
        if ((username === undefined) !== (password === undefined)) {
          this.error(
            at(username === undefined ? 'password' : 'username'),
            'username: and password: go together',
          );
          return undefined;
        }
        const login = [username, password].map((value) =>
          typeof value === 'string' || typeof value === 'number' ? encodeURIComponent(value) : undefined,
        );
        if (username !== undefined && login.includes(undefined)) {
          this.error(at(login[0] === undefined ? 'username' : 'password'), 'expected a string');
          return undefined;
        }
        const credentials = username !== undefined ? `${login[0]}:${login[1]}@` : '';
        // Platus' broker URL, its virtual host named after the host included.
        this.set(
          'broker',
          `${transport}://${credentials}${host}:${String(port(5672))}/${encodeURIComponent(host)}`,
          at('host'),
        );
        node = host;
        break;
      }
      case 'aws_ec2':
        node = String(properties.region ?? properties.vault_region);
        break;
    }
    for (const [name, value] of Object.entries(properties)) {
      if (Object.hasOwn(renamed, name)) this.set(renamed[name]!, value, at(name));
      else if (name.startsWith('vault_') && Object.hasOwn(renamed, name.slice(6)))
        this.set(`vault_${renamed[name.slice(6)]!}`, value, at(name));
      else if (!handled.has(name)) this.set(name, value, at(name));
    }
    return node;
  }

  /** `data:` as our keys: what the plugin reads besides type and name. */
  private translateData(plugin: PlatusPlugin, data: Record<string, unknown>): void {
    const at = (name: string): KeyPath => [this.key, 'data', name];
    for (const [name, value] of Object.entries(data)) {
      if (name === 'type' || name === 'name') continue;
      if (plugin === 'rest_http' && name === 'url') this.set('path', value, at(name));
      // Platus searches a text with re.search: a regular expression; a mapping is a JSON subset.
      else if (plugin === 'rest_http' && name === 'search')
        this.set(typeof value === 'string' ? 'search_regex' : 'search', value, at(name));
      else if (plugin === 'aws_ec2' && name === 'ec2_filters') this.set(name, this.filters(value), at(name));
      else this.set(name, value, at(name));
    }
  }

  /** boto3's filters ([{Name, Values}]) as our mapping ({name: values}); a mapping is kept. */
  private filters(value: unknown): unknown {
    if (!Array.isArray(value)) return value;
    const filters: Record<string, unknown> = {};
    value.forEach((filter, index) => {
      if (!isMapping(filter) || typeof filter.Name !== 'string' || filter.Values === undefined)
        this.error([this.key, 'data', 'ec2_filters', index], 'expected {Name: ..., Values: [...]}');
      else filters[filter.Name] = filter.Values;
    });
    return filters;
  }

  /** A string value of `data`, or undefined (absent: Platus' answers fall back to other names). */
  private string(data: Record<string, unknown>, name: string): string | undefined {
    const value = data[name];
    if (value === undefined) return undefined;
    if (typeof value === 'string' || typeof value === 'number') return String(value);
    this.error([this.key, 'data', name], 'expected a string');
    return undefined;
  }

  private set(key: string, value: unknown, from: KeyPath): void {
    this.body[key] = value;
    const line = this.lineOf(from);
    if (line !== undefined) this.keyLines[key] = line;
  }

  /** The line of the key at `path` (of its nearest parent when it is not written). */
  private lineOf(path: KeyPath): number | undefined {
    const last = path.at(-1);
    return typeof last === 'string' ? this.file.lineOfKey(path.slice(0, -1), last) : this.file.lineOf(path);
  }

  private error(path: KeyPath, problem: string): void {
    this.failed = true;
    this.errors.push(
      new ConfigError(
        { file: this.file.path, line: this.lineOf(path), key: this.file.keyForMessage(path) },
        problem,
      ),
    );
  }
}

/** The host of a broker URL, for Platus' `node` (`broker` when there is none to read). */
function hostnameOf(url: unknown): string {
  try {
    return (typeof url === 'string' && new URL(url).hostname) || 'broker';
  } catch {
    return 'broker';
  }
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
