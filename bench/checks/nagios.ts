// Nagios Core 4 (Debian's nagios4) for bench:checks: a temp dir with a minimal nagios.cfg (no web
// UI, no notifications, no perfdata processing, no external commands, no state retention, no host
// checks, status.dat every 10 s; the rest Nagios' defaults, check_result_reaper_frequency and flap
// detection included), one host and N services running check_dummy 0 ok every minute
// (check_interval 1, interval_length 60, max_check_attempts 3 as opsbro's default), at most
// max_concurrent_checks at once. Started in the foreground; as root it drops to the `nagios` user
// itself (nagios_user), as its init script has it do. Its process tree is the daemon, its core
// workers (`nagios4 --worker`) and their plugins. The bench reads status.dat: each service's
// last_check and check_latency (how late it started after it fell due: opsbro's lag).
import { execFileSync } from 'node:child_process';
import { accessSync, chownSync, constants, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { retryWhileRunning, run, tempDir, track, type Proc } from '../gossip/procs.js';

export const NAGIOS_BIN = process.env.BENCH_NAGIOS_BIN || '/usr/sbin/nagios4';
export const PLUGINS_DIR = '/usr/lib/nagios/plugins';
const READY_TIMEOUT_MS = 60_000;
/** status.dat is rewritten this often (s): the bench reads it at the same pace. */
export const STATUS_UPDATE_S = 10;

export interface NagiosPeer {
  name: 'nagios';
  proc: Proc;
  dir: string;
  statusFile: string;
}

/** Why Nagios cannot run here, or null. */
export function nagiosMissing(): string | null {
  for (const file of [NAGIOS_BIN, join(PLUGINS_DIR, 'check_dummy')]) {
    try {
      accessSync(file, constants.X_OK);
    } catch {
      return `${file} is not installed: run \`sh bench/checks/setup.sh\` as root`;
    }
  }
  return null;
}

export async function nagiosVersion(): Promise<string> {
  const { output } = await run('nagios version', NAGIOS_BIN, ['--version'], 10_000);
  return /Nagios Core [\d.]+/.exec(output)?.[0] ?? 'unknown';
}

/** The user Nagios runs as: `nagios` when the bench is root (Nagios drops to it), else the bench's. */
function runAs(): { user: string; group: string; uid: number; gid: number } {
  const id = (args: string[]): string => execFileSync('id', args, { encoding: 'utf8' }).trim();
  const user = process.getuid?.() === 0 ? 'nagios' : userInfo().username;
  return { user, group: id(['-gn', user]), uid: Number(id(['-u', user])), gid: Number(id(['-g', user])) };
}

function objectsCfg(services: number): string {
  const days = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
  const define = (type: string, fields: [string, string | number][]): string =>
    [`define ${type} {`, ...fields.map(([key, value]) => `  ${key} ${value}`), '}'].join('\n');
  const parts = [
    define('timeperiod', [
      ['timeperiod_name', '24x7'],
      ['alias', '24x7'],
      ...days.map((d): [string, string] => [d, '00:00-24:00']),
    ]),
    define('command', [
      ['command_name', 'check_dummy'],
      ['command_line', `${PLUGINS_DIR}/check_dummy $ARG1$ $ARG2$`],
    ]),
    // Nagios refuses a configuration without a contact: one that is never told anything.
    define('command', [
      ['command_name', 'notify-nobody'],
      ['command_line', '/bin/true'],
    ]),
    define('contact', [
      ['contact_name', 'nobody'],
      ['host_notifications_enabled', 0],
      ['service_notifications_enabled', 0],
      ['host_notification_period', '24x7'],
      ['service_notification_period', '24x7'],
      ['host_notification_options', 'n'],
      ['service_notification_options', 'n'],
      ['host_notification_commands', 'notify-nobody'],
      ['service_notification_commands', 'notify-nobody'],
    ]),
    define('host', [
      ['host_name', 'bench'],
      ['address', '127.0.0.1'],
      ['check_command', 'check_dummy!0'],
      ['active_checks_enabled', 0],
      ['max_check_attempts', 1],
      ['check_period', '24x7'],
      ['contacts', 'nobody'],
      ['notification_period', '24x7'],
      ['notifications_enabled', 0],
    ]),
    define('service', [
      ['name', 'bench-service'],
      ['register', 0],
      ['host_name', 'bench'],
      ['check_command', 'check_dummy!0!ok'],
      ['max_check_attempts', 3],
      ['check_interval', 1],
      ['retry_interval', 1],
      ['check_period', '24x7'],
      ['contacts', 'nobody'],
      ['notification_period', '24x7'],
      ['notifications_enabled', 0],
    ]),
  ];
  for (let index = 1; index <= services; index++)
    parts.push(
      define('service', [
        ['use', 'bench-service'],
        ['service_description', serviceName(index)],
      ]),
    );
  return parts.join('\n') + '\n';
}

export const serviceName = (index: number): string => `dummy-${String(index).padStart(5, '0')}`;

function nagiosCfg(dir: string, maxConcurrent: number, user: string, group: string): string {
  return [
    `log_file=${dir}/nagios.log`,
    `cfg_file=${dir}/objects.cfg`,
    `object_cache_file=${dir}/objects.cache`,
    `precached_object_file=${dir}/objects.precache`,
    `status_file=${dir}/status.dat`,
    `status_update_interval=${STATUS_UPDATE_S}`,
    `nagios_user=${user}`,
    `nagios_group=${group}`,
    'check_external_commands=0',
    `command_file=${dir}/nagios.cmd`,
    `lock_file=${dir}/nagios.lock`,
    `temp_file=${dir}/nagios.tmp`,
    `temp_path=${dir}`,
    `check_result_path=${dir}/checkresults`,
    `query_socket=${dir}/nagios.qh`,
    'retain_state_information=0',
    `state_retention_file=${dir}/retention.dat`,
    'use_syslog=0',
    'enable_notifications=0',
    'enable_event_handlers=0',
    'process_performance_data=0',
    'execute_host_checks=0',
    'accept_passive_service_checks=0',
    'accept_passive_host_checks=0',
    'interval_length=60',
    `max_concurrent_checks=${maxConcurrent}`,
    'check_for_updates=0',
    'enable_environment_macros=0',
    'illegal_macro_output_chars=`~$&|\'"<>',
    '',
  ].join('\n');
}

/** Writes the configuration, has Nagios verify it, starts it and waits for its first status.dat. */
export async function startNagios(services: number, maxConcurrent: number): Promise<NagiosPeer> {
  const dir = tempDir('opsbro-bench-nagios-');
  const owner = runAs();
  mkdirSync(join(dir, 'checkresults'));
  const cfg = join(dir, 'nagios.cfg');
  writeFileSync(join(dir, 'objects.cfg'), objectsCfg(services));
  writeFileSync(cfg, nagiosCfg(dir, maxConcurrent, owner.user, owner.group));
  // Nagios writes its status, log and sockets here after dropping to its user.
  for (const path of [dir, join(dir, 'checkresults')]) chownSync(path, owner.uid, owner.gid);

  const verify = await run('nagios -v', NAGIOS_BIN, ['-v', cfg], 60_000);
  if (verify.code !== 0) {
    const problems = verify.output.split('\n').filter((line) => /error|warning/i.test(line));
    throw new Error(`nagios -v refused the bench's configuration:\n${problems.join('\n') || verify.output}`);
  }
  const proc = track('nagios', NAGIOS_BIN, [cfg]);
  const statusFile = join(dir, 'status.dat');
  await retryWhileRunning(proc, `no ${statusFile} in ${READY_TIMEOUT_MS} ms`, READY_TIMEOUT_MS, 200, () => {
    if (!readStatus(statusFile)) throw new Error('not written yet');
    return Promise.resolve();
  });
  return { name: 'nagios', proc, dir, statusFile };
}

/** One service as status.dat shows it. */
export interface ServiceStatus {
  /** When its last check started, s since the epoch (0: never). */
  lastCheckS: number;
  /** How late that check started after it fell due, s. */
  latencyS: number;
  /** 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. */
  state: number;
}

export interface NagiosStatus {
  /** When Nagios wrote the file, s since the epoch. */
  createdS: number;
  services: Map<string, ServiceStatus>;
}

/** status.dat parsed (Nagios writes it to a temp file and renames it: never half written). */
export function readStatus(file: string): NagiosStatus | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const createdS = Number(/^\s*created=(\d+)/m.exec(text)?.[1]);
  if (!(createdS > 0)) return undefined;
  const services = new Map<string, ServiceStatus>();
  for (const block of text.split('servicestatus {').slice(1)) {
    const fields = new Map<string, string>();
    for (const line of block.slice(0, block.indexOf('\n\t}')).split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) fields.set(line.slice(0, eq).trim(), line.slice(eq + 1));
    }
    const name = fields.get('service_description');
    if (!name) continue;
    services.set(name, {
      lastCheckS: Number(fields.get('last_check') ?? 0),
      latencyS: Number(fields.get('check_latency') ?? 0),
      state: Number(fields.get('current_state') ?? 3),
    });
  }
  return { createdS, services };
}
