// The schema of agent settings (agent.yml and the settings part of conf.d/*.yml).
// One TypeBox schema gives both the static type and the JSON schema Ajv validates against.
// Every key has a default, so an empty agent.yml is a valid configuration.
import { Type, type Static } from '@sinclair/typebox';

const Port = Type.Integer({ minimum: 0, maximum: 65535, description: 'a port number 0-65535' });

const LogSettings = Type.Object(
  {
    level: Type.Union(
      [Type.Literal('debug'), Type.Literal('info'), Type.Literal('warn'), Type.Literal('error')],
      { default: 'info' },
    ),
    /** text: one human-readable line per event with key=value fields; json: one JSON object per line. */
    format: Type.Union([Type.Literal('text'), Type.Literal('json')], { default: 'text' }),
    /** Daemon mode only: the log file in the data dir rotates past this size. */
    max_size_mb: Type.Number({ exclusiveMinimum: 0, default: 10 }),
    /** Daemon mode only: rotated files kept (opsbro.log.1 .. opsbro.log.N). */
    keep_files: Type.Integer({ minimum: 0, maximum: 100, default: 5 }),
  },
  { additionalProperties: false, default: {} },
);

const ApiSettings = Type.Object(
  {
    bind: Type.String({ minLength: 1, default: '127.0.0.1', description: 'an IP address to listen on' }),
    port: Type.Integer({ ...Port, default: 6768 }),
    /** Also serve the API on <data-dir>/api.sock (mode 0600: only the agent's user can use it). */
    socket: Type.Boolean({ default: true }),
    max_body_bytes: Type.Integer({ minimum: 1024, default: 1024 * 1024 }),
  },
  { additionalProperties: false, default: {} },
);

const ApiToken = Type.Object(
  {
    name: Type.String({ minLength: 1, description: 'a name for this token (shown in logs)' }),
    token: Type.String({ minLength: 16, description: 'a secret of at least 16 characters' }),
  },
  { additionalProperties: false },
);

const AuthSettings = Type.Object(
  {
    /** Bearer tokens accepted by the HTTP API over TCP. Required to bind the API beyond loopback. */
    tokens: Type.Array(ApiToken, { default: [] }),
  },
  { additionalProperties: false, default: {} },
);

export const AgentSettingsSchema = Type.Object(
  {
    node_name: Type.String({ default: '', description: 'the node name (empty: the hostname)' }),
    datacenter: Type.String({
      default: 'dc1',
      pattern: '^[a-z0-9][a-z0-9-]{0,62}$',
      description: 'a DNS label of lowercase letters, digits and dashes',
    }),
    groups: Type.Array(
      Type.String({
        pattern: '^[A-Za-z0-9_.-]+$',
        description: 'a group name of letters, digits, _ . -',
      }),
      { default: [], uniqueItems: true },
    ),
    data_dir: Type.String({ default: '', description: 'a directory path (empty: the default data dir)' }),
    encryption_key: Type.String({
      default: '',
      pattern: '^$|^[A-Za-z0-9+/]{43}=$',
      description: 'the base64 of 32 bytes, as printed by `opsbro agent keygen`',
    }),
    encryption_key_file: Type.String({ default: '' }),
    log: LogSettings,
    api: ApiSettings,
    auth: AuthSettings,
  },
  { additionalProperties: false },
);

export type AgentSettings = Static<typeof AgentSettingsSchema>;

/** Settings that a reload cannot change in a running agent: they need a restart. */
export const RESTART_ONLY_SETTINGS: ReadonlyArray<string> = [
  'node_name',
  'datacenter',
  'data_dir',
  'encryption_key',
  'encryption_key_file',
  'api',
  'auth',
  'log.format',
  'log.max_size_mb',
  'log.keep_files',
];
