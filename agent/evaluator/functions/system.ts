// The machine itself: environment, OS, local users and groups. Users and groups are read from
// <root>/etc/passwd and <root>/etc/group (not NSS), so they work against a fixture root and on a
// mounted host filesystem; directory-service accounts (LDAP, ...) are not seen. The environment is
// the agent's, where secrets live: only evaluator.env_allow's names are readable (host/environment.ts).
import { platform } from 'node:os';
import { ExpressionError } from '../errors.js';
import { envRefusal, envValue } from '../host/environment.js';
import type { Arguments } from './arguments.js';
import { hostPath } from './host-files.js';
import type { CallContext, EvaluatorFunction } from './types.js';

/** Whether a colon-separated database (passwd, group) has an entry with this name, or this id. */
async function hasEntry(args: Arguments, context: CallContext, database: string): Promise<boolean> {
  const wanted = args.value(0);
  if (typeof wanted !== 'string' && !(typeof wanted === 'number' && Number.isInteger(wanted))) {
    throw args.error(0, 'must be a name or a numeric id');
  }
  // As in opsbro: a number, or a string of digits, is an id; anything else a name.
  const byId = typeof wanted === 'number' || /^\d+$/.test(wanted);
  const text = await context.readFile(hostPath(context.providers.paths, database));
  if (text === undefined) return false;
  return text.split('\n').some((line) => {
    if (line.startsWith('#')) return false;
    const fields = line.split(':');
    return byId ? fields[2] === String(wanted) : fields[0] === wanted;
  });
}

const OS_NAMES: Partial<Record<NodeJS.Platform, string>> = { win32: 'windows' };

export const SYSTEM_FUNCTIONS: readonly EvaluatorFunction[] = [
  {
    kind: 'plain',
    name: 'get_env',
    signature: "get_env(name, default='')",
    doc: "The agent's environment variable name, or default when it is not set; only names listed in evaluator.env_allow.",
    call(args, { providers }) {
      const name = args.string(0);
      const fallback = args.has(1) ? args.value(1) : '';
      // Refused whether or not it is set: the answer must not tell that either.
      const refusal = envRefusal(name, providers.envAllowList());
      if (refusal) throw new ExpressionError(`get_env(${JSON.stringify(name)}): refused: ${refusal}`);
      return envValue(name) ?? fallback;
    },
  },
  {
    kind: 'plain',
    name: 'system_get_os',
    signature: 'system_get_os()',
    doc: "The operating system in lower case: 'linux', 'darwin', 'freebsd', 'windows'...",
    call() {
      const current = platform();
      return OS_NAMES[current] ?? current;
    },
  },
  {
    kind: 'io',
    name: 'system_user_exists',
    signature: 'system_user_exists(name_or_uid)',
    doc: 'True when <root>/etc/passwd has this user name (or numeric uid).',
    run: (args, context) => hasEntry(args, context, '/etc/passwd'),
  },
  {
    kind: 'io',
    name: 'system_group_exists',
    signature: 'system_group_exists(name_or_gid)',
    doc: 'True when <root>/etc/group has this group name (or numeric gid).',
    run: (args, context) => hasEntry(args, context, '/etc/group'),
  },
];
