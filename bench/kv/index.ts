// KV benchmark (issue 14): PUT and GET throughput and p99 latency through the HTTP API of a 3-node
// opsbro cluster (N = 3, W = 2, R = 1), beside a 3-member etcd cluster (Debian's etcd-server) through
// its HTTP/JSON gateway (/v3/kv/put, /v3/kv/range), one after the other in one run: the same value
// size (100 B), the same concurrency (BENCH_CLIENTS, default 16, spread over the three nodes), the
// same key space (10,000 keys, 1,000 written before the measurement), BENCH_SECONDS per phase.
// Phases: PUT; GET (opsbro: R = 1; etcd: its default, linearizable); GET with a majority (opsbro
// ?consistent; etcd: linearizable again, the same row) and etcd's serializable GET beside opsbro's
// R = 1. Targets: GET at least etcd's; PUT at least half of etcd's.
//
// Setup (once, root):  sh bench/kv/setup.sh           (apt-get install etcd-server)
// Run:                 npm run bench:kv               (about 2 minutes)
// Environment:         BENCH_SECONDS=10, BENCH_CLIENTS=16, BENCH_VALUE_BYTES=100,
//                      BENCH_PROFILE=1 (each agent writes a --cpu-prof profile to /tmp/prof at its stop),
//                      BENCH_ONLY=opsbro (no etcd, no ratios: for profiling), BENCH_PHASES=put (or get,
//                      majority: only these phases of the opsbro run; with BENCH_ONLY=opsbro)
// `node dist/bench/kv/index.js --json` prints only the JSON line. Every process started is stopped
// by pid, every temp dir removed, at the end, on error and on Ctrl-C.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent as HttpAgent, request } from 'node:http';
import { join } from 'node:path';
import { disabledPacksYaml, shippedPackNames } from '../../agent/config/index.js';
import { positiveEnv } from '../lib/env.js';
import { ratio, verdict } from '../gossip/report.js';
import {
  freePort,
  retryWhileRunning,
  runBench,
  stopAll,
  stopOnSignals,
  tempDir,
  track,
  trackAgent,
  type Proc,
} from '../gossip/procs.js';

const SECONDS = positiveEnv('BENCH_SECONDS', 10, true);
const CLIENTS = positiveEnv('BENCH_CLIENTS', 16, true);
const VALUE_BYTES = positiveEnv('BENCH_VALUE_BYTES', 100, true);
const KEYS = 10_000;
const PREFILL = 1_000;
const JSON_ONLY = process.argv.includes('--json');
const OPSBRO_ONLY = process.env.BENCH_ONLY === 'opsbro';
const PHASES = new Set((process.env.BENCH_PHASES ?? 'put,get,majority').split(','));
const ETCD = '/usr/bin/etcd';
const BLOCK = '127.0.9';
const API_PORT = 6770;
const log = (line: string): void => {
  if (!JSON_ONLY) console.error(`[bench:kv] ${line}`);
};

/** One HTTP endpoint of a system: how to PUT and GET a key there. */
interface Endpoint {
  host: string;
  port: number;
  put(key: string, value: Buffer): RequestSpec;
  get(key: string, variant: 'plain' | 'majority'): RequestSpec;
}

interface RequestSpec {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer | string;
}

interface PhaseResult {
  requests: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

const agent = new HttpAgent({ keepAlive: true, maxSockets: CLIENTS });

function send(endpoint: Endpoint, spec: RequestSpec): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: endpoint.host,
        port: endpoint.port,
        method: spec.method,
        path: spec.path,
        headers: spec.headers,
        agent,
        timeout: 10_000,
      },
      (res) => {
        res.on('data', () => undefined);
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(spec.body);
  });
}

/** CLIENTS loops for SECONDS, client i on endpoint i % 3; latencies of the successful requests. */
async function phase(
  endpoints: Endpoint[],
  make: (endpoint: Endpoint, key: string) => RequestSpec,
  keys: number,
): Promise<PhaseResult> {
  const latencies: number[] = [];
  let errors = 0;
  const deadline = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      const endpoint = endpoints[client % endpoints.length]!;
      while (performance.now() < deadline) {
        const key = `bench/${Math.floor(Math.random() * keys)}`;
        const started = performance.now();
        try {
          const status = await send(endpoint, make(endpoint, key));
          if (status >= 200 && status < 300) latencies.push(performance.now() - started);
          else errors++;
        } catch {
          errors++;
        }
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return {
    requests: latencies.length,
    perSecond: latencies.length / SECONDS,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    errors,
  };
}

async function prefill(endpoints: Endpoint[], value: Buffer): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      const endpoint = endpoints[client % endpoints.length]!;
      while (next < PREFILL) {
        const key = `bench/${next++}`;
        const status = await send(endpoint, endpoint.put(key, value));
        if (status !== 200)
          throw new Error(`prefill of ${key} on ${endpoint.host}:${endpoint.port}: HTTP ${status}`);
      }
    }),
  );
}

interface SystemResult {
  put: PhaseResult;
  get: PhaseResult;
  getMajority: PhaseResult;
}

async function measure(name: string, endpoints: Endpoint[]): Promise<SystemResult> {
  const value = Buffer.alloc(VALUE_BYTES, 0x61);
  await prefill(endpoints, value);
  const skipped: PhaseResult = { requests: 0, perSecond: NaN, p50Ms: NaN, p99Ms: NaN, errors: 0 };
  const run = (
    which: string,
    label: string,
    make: (endpoint: Endpoint, key: string) => RequestSpec,
    keys: number,
  ) => {
    if (!PHASES.has(which)) return Promise.resolve(skipped);
    log(`${name}: ${label} for ${SECONDS} s`);
    return phase(endpoints, make, keys);
  };
  const put = await run('put', 'PUT', (endpoint, key) => endpoint.put(key, value), KEYS);
  const get = await run('get', 'GET', (endpoint, key) => endpoint.get(key, 'plain'), PREFILL);
  const getMajority = await run(
    'majority',
    'GET (majority)',
    (endpoint, key) => endpoint.get(key, 'majority'),
    PREFILL,
  );
  return { put, get, getMajority };
}

// --- opsbro ---------------------------------------------------------------------------------

async function startOpsbro(dir: string): Promise<{ procs: Proc[]; endpoints: Endpoint[] }> {
  const procs: Proc[] = [];
  const noPacks = disabledPacksYaml(shippedPackNames());
  const seed = `${BLOCK}.1`;
  for (let index = 1; index <= 3; index++) {
    const address = `${BLOCK}.${index}`;
    const configDir = join(dir, `opsbro-${index}`, 'config');
    const dataDir = join(dir, `opsbro-${index}`, 'data');
    mkdirSync(configDir, { recursive: true });
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(
      join(configDir, 'agent.yml'),
      [
        `node_name: opsbro-${index}`,
        `bind_addr: ${address}`,
        `api: {bind: ${address}, port: ${API_PORT}}`,
        `dns: {bind: ${address}, port: 0}`,
        `statsd: {bind: ${address}, port: 0}`,
        `graphite: {bind: ${address}, port: 0}`,
        index > 1 ? `seeds: [${seed}]` : '',
        'log: {level: warn}',
        noPacks,
      ].join('\n') + '\n',
    );
    const proc = trackAgent(`opsbro-${index}`, configDir, dataDir, {
      nodeArgs: process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : [],
    });
    procs.push(proc);
    await retryWhileRunning(proc, 'API not ready', 60_000, 200, () => membersAlive(address));
  }
  const endpoints = [1, 2, 3].map((index) => {
    const address = `${BLOCK}.${index}`;
    const token = readFileSync(join(dir, `opsbro-${index}`, 'data', 'local-token'), 'utf8').trim();
    const auth = { authorization: `Bearer ${token}` };
    const endpoint: Endpoint = {
      host: address,
      port: API_PORT,
      put: (key, value) => ({
        method: 'PUT',
        path: `/kv/${key}`,
        headers: { ...auth, 'content-length': String(value.length) },
        body: value,
      }),
      get: (key, variant) => ({
        method: 'GET',
        path: `/kv/${key}${variant === 'majority' ? '?consistent' : ''}`,
        headers: {},
      }),
    };
    return endpoint;
  });
  // Formed: every agent sees the three alive (the ring is the same everywhere).
  for (const deadline = Date.now() + 60_000; ;) {
    const views = await Promise.all(endpoints.map((endpoint) => membersAlive(endpoint.host)));
    if (views.every((alive) => alive === 3)) break;
    if (Date.now() > deadline) throw new Error(`the opsbro cluster did not form: ${views.join(', ')} alive`);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  return { procs, endpoints };
}

/** Members `host` sees alive; rejects while its API does not answer 200. */
function membersAlive(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port: API_PORT, path: '/agent/members', agent }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
        try {
          resolve(
            (JSON.parse(body) as Array<{ state: string }>).filter((member) => member.state === 'alive')
              .length,
          );
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

// --- etcd -----------------------------------------------------------------------------------

async function startEtcd(
  dir: string,
): Promise<{ procs: Proc[]; endpoints: Endpoint[]; serializable: Endpoint[] }> {
  const members = await Promise.all(
    [1, 2, 3].map(async (index) => ({
      name: `etcd-${index}`,
      client: await freePort(),
      peer: await freePort(),
    })),
  );
  const initial = members.map((member) => `${member.name}=http://127.0.0.1:${member.peer}`).join(',');
  const procs = members.map((member) =>
    track(member.name, ETCD, [
      '--name',
      member.name,
      '--data-dir',
      join(dir, member.name),
      '--listen-client-urls',
      `http://127.0.0.1:${member.client}`,
      '--advertise-client-urls',
      `http://127.0.0.1:${member.client}`,
      '--listen-peer-urls',
      `http://127.0.0.1:${member.peer}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${member.peer}`,
      '--initial-cluster',
      initial,
      '--initial-cluster-state',
      'new',
      '--initial-cluster-token',
      'opsbro-bench',
      '--log-level',
      'warn',
    ]),
  );
  const endpoint = (port: number, serializable: boolean): Endpoint => ({
    host: '127.0.0.1',
    port,
    put: (key, value) => {
      const body = JSON.stringify({
        key: Buffer.from(key).toString('base64'),
        value: value.toString('base64'),
      });
      return {
        method: 'POST',
        path: '/v3/kv/put',
        headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
        body,
      };
    },
    get: (key) => {
      const body = JSON.stringify({
        key: Buffer.from(key).toString('base64'),
        ...(serializable ? { serializable: true } : {}),
      });
      return {
        method: 'POST',
        path: '/v3/kv/range',
        headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
        body,
      };
    },
  });
  const endpoints = members.map((member) => endpoint(member.client, false));
  for (const [at, proc] of procs.entries()) {
    await retryWhileRunning(proc, 'etcd not ready', 60_000, 200, async () => {
      const status = await send(endpoints[at]!, endpoints[at]!.put('ready', Buffer.from('x')));
      if (status !== 200) throw new Error(`HTTP ${status}`);
    });
  }
  return { procs, endpoints, serializable: members.map((member) => endpoint(member.client, true)) };
}

async function main(): Promise<void> {
  if (spawnSync(ETCD, ['--version']).error)
    throw new Error(`${ETCD} is missing: sh bench/kv/setup.sh (etcd-server)`);
  const etcdVersion =
    /etcd Version: (\S+)/.exec(spawnSync(ETCD, ['--version'], { encoding: 'utf8' }).stdout)?.[1] ?? '?';
  const dir = tempDir('opsbro-bench-kv-');
  if (OPSBRO_ONLY) {
    log(`starting 3 opsbro agents on ${BLOCK}.x`);
    const opsbro = await startOpsbro(dir);
    const result = await measure('opsbro', opsbro.endpoints);
    await stopAll(opsbro.procs);
    console.log(JSON.stringify({ bench: 'kv', only: 'opsbro', clients: CLIENTS, opsbro: result }));
    return;
  }

  log('starting 3 etcd members on 127.0.0.1');
  const etcd = await startEtcd(dir);
  const etcdResult = await measure('etcd', etcd.endpoints);
  log(`etcd: serializable GET for ${SECONDS} s`);
  const etcdSerializable = await phase(
    etcd.serializable,
    (endpoint, key) => endpoint.get(key, 'plain'),
    PREFILL,
  );
  await stopAll(etcd.procs);

  log(`starting 3 opsbro agents on ${BLOCK}.x`);
  const opsbro = await startOpsbro(dir);
  const opsbroResult = await measure('opsbro', opsbro.endpoints);
  await stopAll(opsbro.procs);

  const getRatio = ratio(opsbroResult.get.perSecond, etcdResult.get.perSecond);
  const putRatio = ratio(opsbroResult.put.perSecond, etcdResult.put.perSecond);
  const targets = {
    getAtLeastEtcd: getRatio !== null && getRatio >= 1,
    putAtLeastHalfOfEtcd: putRatio !== null && putRatio >= 0.5,
  };
  const result = {
    bench: 'kv',
    node: process.version,
    etcd: etcdVersion,
    seconds: SECONDS,
    clients: CLIENTS,
    valueBytes: VALUE_BYTES,
    opsbro: opsbroResult,
    etcd_results: { ...etcdResult, getSerializable: etcdSerializable },
    ratio: {
      put: putRatio,
      get: getRatio,
      getMajority: ratio(opsbroResult.getMajority.perSecond, etcdResult.getMajority.perSecond),
      getVsSerializable: ratio(opsbroResult.get.perSecond, etcdSerializable.perSecond),
      putP99: ratio(opsbroResult.put.p99Ms, etcdResult.put.p99Ms),
      getP99: ratio(opsbroResult.get.p99Ms, etcdResult.get.p99Ms),
    },
    targets,
  };
  if (!JSON_ONLY) {
    const row = (name: string, a: number, b: number, digits = 0): string =>
      `${name.padEnd(40)}${a.toFixed(digits).padStart(12)}${b.toFixed(digits).padStart(12)}${(ratio(a, b)?.toFixed(2) ?? '-').padStart(9)}x`;
    console.log(
      `3 nodes each, ${CLIENTS} clients, ${VALUE_BYTES} B values, ${SECONDS} s per phase; etcd ${etcdVersion}`,
    );
    console.log(`${''.padEnd(40)}${'opsbro'.padStart(12)}${'etcd'.padStart(12)}${'ratio'.padStart(10)}`);
    console.log(row('PUT/s (W=2 | raft)', opsbroResult.put.perSecond, etcdResult.put.perSecond));
    console.log(row('PUT p99 ms', opsbroResult.put.p99Ms, etcdResult.put.p99Ms, 2));
    console.log(row('GET/s (R=1 | linearizable)', opsbroResult.get.perSecond, etcdResult.get.perSecond));
    console.log(row('GET p99 ms', opsbroResult.get.p99Ms, etcdResult.get.p99Ms, 2));
    console.log(
      row(
        'GET/s (majority | linearizable)',
        opsbroResult.getMajority.perSecond,
        etcdResult.getMajority.perSecond,
      ),
    );
    console.log(row('GET/s (R=1 | serializable)', opsbroResult.get.perSecond, etcdSerializable.perSecond));
    console.log(
      row(
        'errors (PUT+GET, opsbro | etcd)',
        opsbroResult.put.errors + opsbroResult.get.errors,
        etcdResult.put.errors + etcdResult.get.errors,
      ),
    );
    console.log(`target: GET at least etcd's: ${verdict(targets.getAtLeastEtcd)}`);
    console.log(`target: PUT at least half of etcd's: ${verdict(targets.putAtLeastHalfOfEtcd)}`);
    console.log('');
  }
  console.log(JSON.stringify(result));
}

runBench('bench:kv', main, stopOnSignals('bench:kv'));
