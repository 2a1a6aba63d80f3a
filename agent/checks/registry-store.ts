// megaphone's runtime check registry (`POST /checks {"id", "url"}`): what a registration may hold,
// the `json_status` check definition it becomes, and the small file of the data dir that keeps the
// registrations across restarts (`<data-dir>/registered-checks.json`, replaced atomically). A file
// that cannot be read is logged and set aside (`.damaged`), never a reason not to start.
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { Type } from '@sinclair/typebox';
import { DurationSchema, parseDurationMs, type Definition } from '../config/index.js';
import { removeStaleTemporaries, writeFileAtomic } from '../shared/atomic-file.js';
import type { MegaphoneCheckUrl, MegaphoneRegistration } from '../shared/api-types.js';
import { messageOf } from '../shared/errors.js';
import { schemaCheck } from '../shared/schema-check.js';
import { CHECK_NAME, CheckDefinitionSchema } from './definition.js';

/** The file in the data dir. */
export const REGISTRY_FILE = 'registered-checks.json';

/** Registrations kept at most: a stranger with the admin role still cannot grow the agent without bound. */
export const MAX_REGISTRATIONS = 1000;
export const MAX_ID_CHARS = 128;
export const MAX_URL_CHARS = 2048;
export const MAX_JSONPATH_CHARS = 256;

/** megaphone has no interval (it asks every URL at each /status): a registered check runs this often. */
export const REGISTERED_CHECK_INTERVAL = '60s';
const MIN_INTERVAL_MS = 1000;
const MAX_INTERVAL_MS = 24 * 3600_000;
const MAX_TIMEOUT_MS = 5 * 60_000;

/** megaphone's `--global`: not a check, the node's status override (`url` is its reason). */
export const MEGAPHONE_GLOBAL = '--global';

/** The statuses megaphone accepts in `statusoverride` (json_status takes any case). */
const STATUSES = ['OK', 'Unknown', 'Warning', 'Critical'];

const RegistrationSchema = Type.Object(
  {
    id: Type.String(),
    url: Type.Unknown(),
    interval: Type.Optional(DurationSchema()),
    timeout: Type.Optional(DurationSchema()),
    max_attempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    registered_at: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
const checkRegistration = schemaCheck(RegistrationSchema);

const UrlObjectSchema = Type.Object(
  {
    addr: Type.String({ minLength: 1, maxLength: MAX_URL_CHARS }),
    jsonpath: Type.Optional(Type.String({ maxLength: MAX_JSONPATH_CHARS })),
    statusoverride: Type.Optional(Type.Union([Type.String(), Type.Literal(false), Type.Null()])),
  },
  { additionalProperties: false },
);
const checkUrlObject = schemaCheck(UrlObjectSchema);

/** An example for the error messages of POST /checks. */
export const REGISTRATION_EXAMPLE =
  '{"id": "billing", "url": "http://127.0.0.1:8080/status"} or {"id": "billing", "url": {"addr": "http://127.0.0.1:8080/status", "jsonpath": "checks/db", "statusoverride": "Warning"}}';

/**
 * A registration from a POST body or the file: the shape checked and bounded, `registered_at`
 * taken from the value or from `now`. A string says what is wrong with it.
 */
export function parseRegistration(value: unknown, now: string): MegaphoneRegistration | string {
  if (!checkRegistration(value)) return checkRegistration.problem();
  const idProblem = checkIdProblem(value.id);
  if (idProblem) return idProblem;
  const parsed = parseUrl(value.url);
  if ('problem' in parsed) return parsed.problem;
  const { url } = parsed;
  for (const key of ['interval', 'timeout'] as const) {
    const duration = value[key];
    if (duration === undefined) continue;
    const ms = parseDurationMs(duration);
    if (key === 'interval' && (ms < MIN_INTERVAL_MS || ms > MAX_INTERVAL_MS))
      return 'interval: from 1s to 24h';
    if (key === 'timeout' && ms > MAX_TIMEOUT_MS) return 'timeout: at most 5m';
  }
  return {
    id: value.id,
    url,
    ...(value.interval !== undefined ? { interval: value.interval } : {}),
    ...(value.timeout !== undefined ? { timeout: value.timeout } : {}),
    ...(value.max_attempts !== undefined ? { max_attempts: value.max_attempts } : {}),
    registered_at: value.registered_at ?? now,
  };
}

/** Why `id` cannot name a registered check, or undefined when it can. */
export function checkIdProblem(id: string): string | undefined {
  if (id.length === 0 || id.length > MAX_ID_CHARS || !CHECK_NAME.test(id) || /^\.+$/.test(id))
    return `id: ${JSON.stringify(id.slice(0, MAX_ID_CHARS))}${id.length > MAX_ID_CHARS ? '...' : ''} is not a check name: letters, digits, _ . - (not only dots), at most ${MAX_ID_CHARS} characters`;
  return undefined;
}

function parseUrl(url: unknown): { url: MegaphoneCheckUrl } | { problem: string } {
  const refused = (problem: string) => ({ problem });
  if (typeof url === 'string') {
    if (url === '' || url.length > MAX_URL_CHARS)
      return refused(`url: from 1 to ${MAX_URL_CHARS} characters`);
    return { url };
  }
  if (url === null || typeof url !== 'object' || Array.isArray(url))
    return refused('url: a status URL, or an object {addr, jsonpath, statusoverride}');
  if (!checkUrlObject(url)) {
    // `body: must have ...` and `unknown field "x"` are about the object; `jsonpath: ...` about a key of it.
    const problem = checkUrlObject.problem();
    const whole = problem.startsWith('body: ') || problem.startsWith('unknown field');
    return refused(whole ? `url: ${problem.replace(/^body: /, '')}` : `url.${problem}`);
  }
  const { statusoverride, jsonpath } = url;
  if (typeof statusoverride === 'string' && statusoverride !== '' && !STATUSES.includes(statusoverride))
    return refused(`url.statusoverride: ${JSON.stringify(statusoverride)}: one of ${STATUSES.join(', ')}`);
  if (jsonpath !== undefined && jsonPathOf(jsonpath) === undefined)
    return refused(
      `url.jsonpath: ${JSON.stringify(jsonpath)}: megaphone's form is keys between slashes (megaphone/status), without . [ ]`,
    );
  return { url };
}

/**
 * json_status' jsonpath for megaphone's: `megaphone/status` (keys between slashes, pointing at the
 * status itself) becomes `$.megaphone.status`; json_status' own form (`$.checks.db`, `status`)
 * is kept. Undefined when a megaphone key holds what json_status' paths cannot say (. [ ]).
 */
export function jsonPathOf(text: string): string | undefined {
  if (!text.includes('/')) return text === '' ? '$' : text;
  const keys = text.split('/').filter((key) => key !== '');
  if (keys.some((key) => /[.[\]]/.test(key))) return undefined;
  return `$${keys.map((key) => `.${key}`).join('')}`;
}

/** The keys of the json_status check a megaphone url means. */
function statusKeys(url: MegaphoneCheckUrl): Record<string, unknown> {
  if (typeof url === 'string') {
    // megaphone's first form of a path: `http://host/status|megaphone/status`.
    const bar = url.indexOf('|');
    if (bar < 0) return { url };
    return { url: url.slice(0, bar), jsonpath: jsonPathOf(url.slice(bar + 1)) ?? url.slice(bar + 1) };
  }
  return {
    addr: url.addr,
    ...(url.jsonpath !== undefined ? { jsonpath: jsonPathOf(url.jsonpath) ?? url.jsonpath } : {}),
    ...(typeof url.statusoverride === 'string' && url.statusoverride !== ''
      ? { statusoverride: url.statusoverride }
      : {}),
  };
}

const fillDefinition = schemaCheck(CheckDefinitionSchema, { fillDefaults: true });

/**
 * The `check:` definition a registration becomes: a json_status check named by its id, defaults
 * filled as the loader fills them. `file` is where it is kept (the check's `source`).
 */
export function definitionOf(registration: MegaphoneRegistration, file: string): Definition {
  const body: Record<string, unknown> = {
    name: registration.id,
    type: 'json_status',
    ...statusKeys(registration.url),
    interval: registration.interval ?? REGISTERED_CHECK_INTERVAL,
    ...(registration.timeout !== undefined ? { timeout: registration.timeout } : {}),
    ...(registration.max_attempts !== undefined ? { max_attempts: registration.max_attempts } : {}),
  };
  // parseRegistration() bounded every key: only a registration built in code fails here.
  if (!fillDefinition(body)) throw new Error(`check ${registration.id}: ${fillDefinition.problem()}`);
  return { kind: 'check', name: registration.id, body, source: { file } };
}

const FileSchema = Type.Object({
  version: Type.Literal(1),
  checks: Type.Array(Type.Unknown()),
});
const checkFile = schemaCheck(FileSchema);

export class RegistryStore {
  constructor(readonly path: string) {}

  /**
   * The registrations kept, in the order they were saved. A file that cannot be parsed, and every
   * entry that is not a valid registration, is reported through `onProblem` and left out: the
   * file is copied to `<file>.damaged` first, as the next save would replace it.
   */
  load(onProblem: (message: string) => void): MegaphoneRegistration[] {
    if (!existsSync(this.path)) return [];
    let text: string;
    try {
      removeStaleTemporaries(this.path);
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      onProblem(`cannot read ${this.path} (${messageOf(error)}): no registered check is restored`);
      return [];
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      this.setAside(
        `${this.path}: not JSON (${messageOf(error)}): no registered check is restored`,
        onProblem,
      );
      return [];
    }
    if (!checkFile(parsed)) {
      this.setAside(`${this.path}: ${checkFile.problem()}: no registered check is restored`, onProblem);
      return [];
    }
    const found = new Map<string, MegaphoneRegistration>();
    const problems: string[] = [];
    parsed.checks.forEach((entry, index) => {
      const registration = parseRegistration(entry, new Date(0).toISOString());
      if (typeof registration === 'string') problems.push(`checks[${index}]: ${registration}`);
      else if (registration.id === MEGAPHONE_GLOBAL)
        problems.push(`checks[${index}]: ${MEGAPHONE_GLOBAL} is no check`);
      else if (!found.has(registration.id) && found.size >= MAX_REGISTRATIONS)
        problems.push(`checks[${index}]: beyond the ${MAX_REGISTRATIONS} registrations kept`);
      else found.set(registration.id, registration);
    });
    if (problems.length)
      this.setAside(
        `${this.path}: ${problems.length} entr${problems.length === 1 ? 'y' : 'ies'} left out: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? '; ...' : ''}`,
        onProblem,
      );
    return [...found.values()];
  }

  save(registrations: readonly MegaphoneRegistration[]): void {
    writeFileAtomic(this.path, JSON.stringify({ version: 1, checks: registrations }) + '\n');
  }

  private setAside(message: string, onProblem: (message: string) => void): void {
    const aside = `${this.path}.damaged`;
    try {
      copyFileSync(this.path, aside);
      onProblem(`${message} (the file is kept as ${aside})`);
    } catch (error) {
      onProblem(`${message} (and it could not be kept as ${aside}: ${messageOf(error)})`);
    }
  }
}

/** Why a registration was refused: its id is a configured check's, the registry is full, or json_status refuses it. */
export class RegistrationRefused extends Error {
  constructor(
    readonly reason: 'clash' | 'full' | 'invalid',
    message: string,
  ) {
    super(message);
  }
}
