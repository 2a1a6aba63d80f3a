// The three processes measured side by side, each started by the bench on loopback only, with its
// own temp dirs: the opsbro agent (bin/opsbro.js with the linux and system packs' collectors),
// prometheus-node-exporter (default collectors; it collects when scraped, the bench scrapes every 10 s)
// and netdata (Debian's build and stock configuration: every plugin it enables, collecting every 1 s;
// web server, statsd on 127.0.0.1 free ports; registry off; DO_NOT_TRACK=1 for its telemetry script).
import { accessSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { disabledPacksYaml, shippedPackNames } from '../../agent/config/index.js';
import { packageRoot } from '../../agent/shared/paths.js';
import { freePort, retryWhileRunning, run, track, trackAgent, type Proc } from '../gossip/procs.js';
import { httpGet } from './http.js';

const OPSBRO = process.env.BENCH_OPSBRO_BIN || join(packageRoot(), 'bin', 'opsbro.js');
/** The packs of the OS collectors; the others (redis, mysql, ...) are the application packs. */
const OS_PACKS = ['linux', 'system'];
export const NODE_EXPORTER_BIN = process.env.BENCH_NODE_EXPORTER_BIN || '/usr/bin/prometheus-node-exporter';
export const NETDATA_BIN = process.env.BENCH_NETDATA_BIN || '/usr/sbin/netdata';
const READY_TIMEOUT_MS = 60_000;

/** opsbro-bare: the same agent with every pack disabled (no collector): the floor under opsbro's figures. */
export type PeerName = 'opsbro' | 'opsbro-bare' | 'node_exporter' | 'netdata';
export const PEER_NAMES: PeerName[] = ['opsbro', 'opsbro-bare', 'node_exporter', 'netdata'];

export interface Peer {
  name: PeerName;
  proc: Proc;
  /** Base URL of its HTTP endpoint on 127.0.0.1. */
  url: string;
}

/** Why `binary` cannot run here, or null. */
export function missingBinary(binary: string): string | null {
  try {
    accessSync(binary, constants.X_OK);
    return null;
  } catch {
    return `${binary} is not installed: run \`sh bench/collectors/setup.sh\` as root`;
  }
}

export async function versionOf(name: PeerName): Promise<string> {
  const [command, args] =
    name === 'opsbro' || name === 'opsbro-bare'
      ? [process.execPath, [OPSBRO, '--version']]
      : name === 'node_exporter'
        ? [NODE_EXPORTER_BIN, ['--version']]
        : [NETDATA_BIN, ['-V']];
  const { output } = await run(`${name} version`, command, args, 10_000);
  return output.trim().split('\n')[0] ?? 'unknown';
}

/** Polls `url` every 200 ms until `ok(reply)` holds; fails early when the process exits. */
async function waitFor(
  proc: Proc,
  url: string,
  ok: (status: number, body: string) => boolean,
): Promise<void> {
  await retryWhileRunning(
    proc,
    `${url} not ready in ${READY_TIMEOUT_MS} ms`,
    READY_TIMEOUT_MS,
    200,
    async () => {
      const reply = await httpGet(url, 2000);
      if (!ok(reply.status, reply.body)) throw new Error(`${reply.status} ${reply.body.slice(0, 200)}`);
    },
  );
}

/** The packs shipped in packs/; with `applicationOnly`, all but the OS ones (linux, system). */
export function shippedPacks(applicationOnly: boolean): string[] {
  return shippedPackNames().filter((name) => !(applicationOnly && OS_PACKS.includes(name)));
}

/**
 * Starts the agent on free loopback ports. With `withoutPacks`, those packs are disabled in agent.yml
 * (`packs: {redis: {enabled: false}}`): their collectors would poll servers that this machine has
 * installed but may not run, which is not what node_exporter and netdata are compared on.
 */
export async function startOpsbro(
  dir: string,
  name: 'opsbro' | 'opsbro-bare',
  withoutPacks: string[],
): Promise<Peer> {
  const configDir = join(dir, name, 'config');
  const dataDir = join(dir, name, 'data');
  mkdirSync(join(configDir, 'conf.d'), { recursive: true });
  mkdirSync(dataDir, { recursive: true });
  const [apiPort, gossipPort, rpcPort] = [await freePort(), await freePort(), await freePort()];
  writeFileSync(
    join(configDir, 'agent.yml'),
    [
      `node_name: ${name}`,
      'bind_addr: 127.0.0.1',
      `gossip: {port: ${gossipPort}}`,
      `rpc: {port: ${rpcPort}}`,
      `api: {bind: 127.0.0.1, port: ${apiPort}}`,
      // DNS on, as by default, on whatever port is free (several agents share the machine).
      'dns: {port: 0}',
      'statsd: {port: 0}',
      'graphite: {port: 0}',
      'log: {level: warn}',
      ...(withoutPacks.length ? [disabledPacksYaml(withoutPacks)] : []),
      '',
    ].join('\n'),
  );
  const proc = trackAgent(name, configDir, dataDir, { bin: OPSBRO });
  const url = `http://127.0.0.1:${apiPort}`;
  await waitFor(
    proc,
    `${url}/agent/state`,
    (status, body) => status === 200 && !body.includes('initializing'),
  );
  return { name, proc, url };
}

export async function startNodeExporter(): Promise<Peer> {
  const port = await freePort();
  const proc = track('node_exporter', NODE_EXPORTER_BIN, [
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ]);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(proc, `${url}/metrics`, (status) => status === 200);
  return { name: 'node_exporter', proc, url };
}

export async function startNetdata(dir: string): Promise<Peer> {
  const root = join(dir, 'netdata');
  const dirs = { config: 'etc', log: 'log', cache: 'cache', lib: 'lib' } as const;
  for (const sub of [...Object.values(dirs), 'etc/health.d']) mkdirSync(join(root, sub), { recursive: true });
  const [webPort, statsdPort] = [await freePort(), await freePort()];
  const config = join(root, 'etc', 'netdata.conf');
  writeFileSync(
    config,
    [
      '[global]',
      `    run as user = ${userInfo().username}`,
      '    hostname = opsbro-bench',
      '[directories]',
      `    config = ${join(root, 'etc')}`,
      '    stock config = /usr/lib/netdata/conf.d',
      `    log = ${join(root, 'log')}`,
      `    cache = ${join(root, 'cache')}`,
      `    lib = ${join(root, 'lib')}`,
      `    home = ${join(root, 'lib')}`,
      `    health config = ${join(root, 'etc', 'health.d')}`,
      `    registry = ${join(root, 'lib', 'registry')}`,
      '[web]',
      `    bind to = 127.0.0.1:${webPort}`,
      '[statsd]',
      `    bind to = udp:127.0.0.1:${statsdPort} tcp:127.0.0.1:${statsdPort}`,
      '[registry]',
      '    enabled = no',
      '',
    ].join('\n'),
  );
  const proc = track('netdata', NETDATA_BIN, ['-D', '-c', config], {
    env: { ...process.env, DO_NOT_TRACK: '1', DISABLE_TELEMETRY: '1' },
  });
  const url = `http://127.0.0.1:${webPort}`;
  await waitFor(proc, `${url}/api/v1/info`, (status) => status === 200);
  return { name: 'netdata', proc, url };
}

/** One collector's status as GET /agent/collectors lists it (the fields the bench reads). */
export interface CollectorStatus {
  name: string;
  type: string;
  pack?: string;
  state: string;
  message?: string;
  runs: number;
  errors: number;
  interval_s?: number;
  last_duration_ms?: number;
}

/** The agent's collectors, or why they cannot be listed (route missing: the subsystem is not wired). */
export async function listCollectors(agent: Peer): Promise<CollectorStatus[] | string> {
  let reply;
  try {
    reply = await httpGet(`${agent.url}/agent/collectors`);
  } catch (err) {
    return `GET /agent/collectors failed: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (reply.status !== 200)
    return `GET /agent/collectors answered ${reply.status}: ${reply.body.slice(0, 200).trim()}`;
  let list: unknown;
  try {
    list = JSON.parse(reply.body);
  } catch {
    return `GET /agent/collectors: not JSON: ${reply.body.slice(0, 200)}`;
  }
  if (!Array.isArray(list))
    return `GET /agent/collectors: expected a JSON list, got ${reply.body.slice(0, 200)}`;
  return list.filter(
    (entry): entry is CollectorStatus =>
      typeof entry === 'object' &&
      entry !== null &&
      typeof (entry as CollectorStatus).name === 'string' &&
      typeof (entry as CollectorStatus).state === 'string',
  );
}
