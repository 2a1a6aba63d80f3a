// megaphone's check registry, in its dialect (`/checks`, apart from `/monitoring/...`): POST
// `{"id", "url"}` registers a json_status check (or replaces the one of that id, as megaphone does),
// GET lists `{id: url}`, GET /checks/ID answers the check's last result in megaphone's shape
// (status, message, date, id), DELETE removes it. megaphone's `--global` id is the node's status
// override. Reading is for anyone local; registering and deleting change the agent: admin.
import type {
  CheckState,
  MegaphoneCheckAnswer,
  MegaphoneCheckList,
  MegaphoneCheckStatus,
  MegaphoneDeleteAnswer,
  MegaphoneRegisterAnswer,
} from '../shared/api-types.js';
import { messageOf } from '../shared/errors.js';
import { HttpError, type Route } from '../shared/http.js';
import {
  MEGAPHONE_GLOBAL,
  parseRegistration,
  REGISTRATION_EXAMPLE,
  RegistrationRefused,
} from './registry-store.js';
import { MAX_OVERRIDE_REASON_CHARS } from './routes.js';
import type { ChecksSubsystem } from './subsystem.js';

/** A registration is a few hundred bytes: the body of POST /checks is bounded well below api.max_body_bytes. */
export const MAX_REGISTRATION_BODY_BYTES = 16 * 1024;

/** Ids named in a 404 at most. */
const NAMED_IDS = 20;

const STATUS_WORDS: Record<CheckState, MegaphoneCheckStatus> = {
  ok: 'OK',
  warning: 'Warning',
  critical: 'Critical',
  unknown: 'Unknown',
};

function unknownRegistration(checks: ChecksSubsystem, id: string): HttpError {
  const source = checks.configuredSource(id);
  if (source)
    return new HttpError(
      404,
      `${id} is a configured check (${source}), not a registered one: see GET /monitoring/checks/${id}`,
    );
  const ids = checks.registered().map((registration) => registration.id);
  const named = ids.slice(0, NAMED_IDS).join(', ') + (ids.length > NAMED_IDS ? ', ...' : '');
  return new HttpError(
    404,
    `no registered check named ${id} (registered: ${named || 'none'}; see GET /checks)`,
  );
}

function registerGlobal(checks: ChecksSubsystem, body: Record<string, unknown>): MegaphoneRegisterAnswer {
  const reason = body.url;
  if (typeof reason !== 'string' || reason === '' || reason.length > MAX_OVERRIDE_REASON_CHARS)
    throw new HttpError(
      400,
      `${MEGAPHONE_GLOBAL}: url is the reason the node is CRITICAL, from 1 to ${MAX_OVERRIDE_REASON_CHARS} characters`,
    );
  const created = checks.currentOverride() === undefined;
  checks.setOverride(reason);
  return { id: MEGAPHONE_GLOBAL, url: reason, created };
}

function register(checks: ChecksSubsystem, body: unknown): MegaphoneRegisterAnswer {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new HttpError(400, `no registration received; expected ${REGISTRATION_EXAMPLE}`);
  if ((body as Record<string, unknown>).id === MEGAPHONE_GLOBAL)
    return registerGlobal(checks, body as Record<string, unknown>);
  const registration = parseRegistration(body, new Date().toISOString());
  if (typeof registration === 'string')
    throw new HttpError(400, `${registration}; expected ${REGISTRATION_EXAMPLE}`);
  let created: boolean;
  try {
    ({ created } = checks.register(registration));
  } catch (error) {
    if (error instanceof RegistrationRefused)
      throw new HttpError(error.reason === 'clash' ? 409 : 422, error.message);
    throw new HttpError(503, `the registration could not be kept: ${messageOf(error)}`);
  }
  return { id: registration.id, url: registration.url, created };
}

function show(checks: ChecksSubsystem, id: string): MegaphoneCheckAnswer {
  if (id === MEGAPHONE_GLOBAL) {
    const override = checks.currentOverride();
    if (!override) throw new HttpError(404, `no ${MEGAPHONE_GLOBAL} override is set`);
    return { id, status: 'Critical', message: override.reason, date: override.since, url: override.reason };
  }
  const registration = checks.registration(id);
  if (!registration) throw unknownRegistration(checks, id);
  const base = { id, url: registration.url, registered_at: registration.registered_at };
  const status = checks.registeredStatus(id);
  if (!status) {
    const source = checks.configuredSource(id);
    return {
      ...base,
      status: 'Unknown',
      message: source
        ? `not run: the configured check ${id} (${source}) took this name`
        : 'not run: refused by the json_status check (see the agent log)',
      date: registration.registered_at,
    };
  }
  if (status.state === 'pending')
    return { ...base, status: 'Unknown', message: 'no result yet', date: registration.registered_at };
  return {
    ...base,
    status: STATUS_WORDS[status.state],
    message: status.output,
    date: status.last_run_at ?? registration.registered_at,
    state_type: status.state_type,
  };
}

function remove(checks: ChecksSubsystem, id: string): MegaphoneDeleteAnswer {
  if (id === MEGAPHONE_GLOBAL) {
    if (!checks.clearOverride()) throw new HttpError(404, `no ${MEGAPHONE_GLOBAL} override is set`);
    return { id, deleted: true };
  }
  let deleted: boolean;
  try {
    deleted = checks.unregister(id);
  } catch (error) {
    throw new HttpError(503, `the registration could not be deleted: ${messageOf(error)}`);
  }
  if (deleted) return { id, deleted: true };
  const source = checks.configuredSource(id);
  if (source)
    throw new HttpError(
      409,
      `${id} is a configured check (${source}), not a registered one: remove it from the configuration and reload`,
    );
  throw unknownRegistration(checks, id);
}

export function megaphoneRoutes(checks: ChecksSubsystem): Route[] {
  return [
    {
      method: 'GET',
      path: '/checks',
      access: 'read',
      description:
        "megaphone's registry: every registered check's url by id ({id: url}; --global: the override)",
      handler: (): MegaphoneCheckList => {
        const list: MegaphoneCheckList = {};
        const override = checks.currentOverride();
        if (override) list[MEGAPHONE_GLOBAL] = override.reason;
        for (const registration of checks.registered()) list[registration.id] = registration.url;
        return list;
      },
    },
    {
      method: 'POST',
      path: '/checks',
      access: 'admin',
      maxBodyBytes: MAX_REGISTRATION_BODY_BYTES,
      description:
        'register a json_status check, megaphone style: {"id", "url"} (or url: {addr, jsonpath, statusoverride}); the same id replaces it',
      handler: ({ body }): MegaphoneRegisterAnswer => register(checks, body),
    },
    {
      method: 'GET',
      path: '/checks/:id',
      access: 'read',
      description: "a registered check's last result, megaphone style: {id, status, message, date, url}",
      handler: ({ params }): MegaphoneCheckAnswer => show(checks, params.id!),
    },
    {
      method: 'DELETE',
      path: '/checks/:id',
      access: 'admin',
      description: 'delete a registered check (--global: clear the override)',
      handler: ({ params }): MegaphoneDeleteAnswer => remove(checks, params.id!),
    },
  ];
}
