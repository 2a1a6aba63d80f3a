// Test helpers for the application collectors: real servers (redis, nginx, mariadb, rabbitmq) started
// as child processes in their own temp dirs (tempDir) on 127.0.0.1, stopped by PID (their process
// group) and their dirs removed (cleanupAll) in afterAll, even when a test failed. Plus what the
// error-path tests share: a server that accepts and never answers, and the refused-port assertion.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { type AddressInfo, type Socket, createServer } from 'node:net';
import { join } from 'node:path';

import { expect } from 'vitest';

import type {
  CollectContext,
  CollectorInstance,
  CollectorType,
} from '../../../agent/collectors/collector.js';

import { isAlive } from '../../helpers/agent-process.js';

export { cleanupAll, freePort, tempDir } from '../../helpers/agent-process.js';

/** The first of `candidates` that exists (Debian puts daemons in /usr/sbin, outside a user's PATH). */
export function findBinary(...candidates: string[]): string | undefined {
  for (const candidate of candidates) {
    if (candidate.includes('/')) {
      if (existsSync(candidate)) return candidate;
      continue;
    }
    for (const dir of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
      if (existsSync(join(dir, candidate))) return join(dir, candidate);
    }
  }
  return undefined;
}

/** What a server says when a port it was told to use is taken (redis, nginx, mariadb, Node). */
const PORT_TAKEN = /address already in use|EADDRINUSE/i;

/**
 * Starts a server on ports chosen in advance and, when it failed because one of them was taken in
 * the meantime, again (`start` chooses new ones each time), at most `attempts` times. The servers
 * must be told their ports: freePort() says a port was free a moment ago, it does not hold it.
 * `start` stops what it started before it throws.
 */
export async function retryOnPortTaken<T>(what: string, start: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (attempt >= attempts || !PORT_TAKEN.test(message)) throw error;
      console.warn(`${what}: a port chosen for it was taken meanwhile; starting it again on others`);
    }
  }
}

/** A run context as the scheduler gives it: its own signal aborted at the timeout. */
export function runContext(timeoutMs = 5000): CollectContext {
  return {
    paths: { root: '/', proc: '/proc', sys: '/sys' },
    signal: AbortSignal.timeout(timeoutMs),
    timeoutMs,
  };
}

/**
 * Instances of one collector type (its default settings under `settings`), every one closed by
 * closeAll() (afterAll): the connections they keep must not outlive the servers.
 */
export function collectorsOf(type: CollectorType): {
  create: (settings: Record<string, string | number>) => CollectorInstance;
  closeAll: () => Promise<void>;
} {
  const instances: CollectorInstance[] = [];
  return {
    create: (settings) => {
      const instance = type.create({ ...type.defaultSettings, ...settings });
      instances.push(instance);
      return instance;
    },
    closeAll: async () => {
      await Promise.all(instances.splice(0).map((instance) => instance.close?.() ?? Promise.resolve()));
    },
  };
}

/** A server process started by a test: its own process group, output in `logFile`. */
export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  logFile: string;
  /** Whether it has exited (then `exitCode`/`signalCode` say how). */
  exited: () => boolean;
  /** The last lines of its log, for assertion messages. */
  logTail: () => string;
}

/**
 * Starts `command` detached (its own process group, so daemons' helpers stop with it), stdout and
 * stderr into `<dir>/<name>.log`.
 */
export function startServer(
  name: string,
  command: string,
  args: readonly string[],
  options: { dir: string; env?: NodeJS.ProcessEnv; cwd?: string },
): ServerProcess {
  const logFile = join(options.dir, `${name}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(command, args, {
    cwd: options.cwd ?? options.dir,
    env: options.env ?? process.env,
    stdio: ['ignore', fd, fd],
    detached: true,
  });
  closeSync(fd);
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  child.once('error', () => {
    exited = true;
  });
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  return {
    child,
    pid: child.pid,
    logFile,
    exited: () => exited,
    logTail: () => {
      try {
        return readFileSync(logFile, 'utf8').split('\n').slice(-25).join('\n');
      } catch {
        return '';
      }
    },
  };
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every descendant of `pid` (children, grandchildren ...), read from /proc: daemons' helpers may leave the group. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return [];
  }
  for (const entry of entries) {
    try {
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length) {
    for (const child of children.get(queue.shift()!) ?? []) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

/**
 * Stops a server by PID: SIGTERM to its process group, SIGKILL after `graceMs`, then waits until the
 * group is empty. Descendants that left the group (a daemon's helpers) are sent the same signals by PID.
 */
export async function stopServer(server: ServerProcess | undefined, graceMs = 5000): Promise<void> {
  if (!server) return;
  const helpers = descendants(server.pid);
  const anyAlive = (): boolean => groupAlive(server.pid) || helpers.some(isAlive);
  signalGroup(server.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && anyAlive()) await sleep(50);
  if (groupAlive(server.pid)) signalGroup(server.pid, 'SIGKILL');
  for (const pid of helpers) {
    if (!isAlive(pid)) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  const killDeadline = Date.now() + 2000;
  while (Date.now() < killDeadline && anyAlive()) await sleep(20);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` until it returns a value (not undefined), or throws with `what` and the server's log. */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  server?: ServerProcess,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (server?.exited()) throw new Error(`${what}: the server exited\n${server.logTail()}`);
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await sleep(100);
  }
  const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
  throw new Error(`${what}: not ready after ${timeoutMs} ms${detail}\n${server?.logTail() ?? ''}`);
}

/** Runs a command to completion (setup steps: install-db, client commands); throws with its output on failure. */
export function runOrThrow(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): string {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 120_000, ...options });
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} failed (${result.status ?? result.signal}): ${result.stderr}${result.stdout}`,
    );
  }
  return result.stdout;
}

/** The error a collector's run fails with, undefined when it succeeds: for assertions on its message. */
export function collectError(
  collector: CollectorInstance,
  context: CollectContext = runContext(),
): Promise<Error | undefined> {
  return Promise.resolve()
    .then(() => collector.collect(context))
    .then(
      () => undefined,
      (e: unknown) => e as Error,
    );
}

/** The phrase every application collector ends its message with when nothing listens on the port. */
export const CONNECTION_REFUSED = 'connection refused (is the server running and listening there?)';

/** Expects a run of `collector`, on a port nothing listens on, to throw `<where>: connection refused (...)`. */
export async function expectConnectionRefused(collector: CollectorInstance, where: string): Promise<void> {
  await expect(collector.collect(runContext())).rejects.toThrow(`${where}: ${CONNECTION_REFUSED}`);
}

/**
 * Runs the collector `make` builds for the port of a server that accepts and never answers, with a run
 * timeout of `timeoutMs`: it must fail with `expected` (built for that port) within `withinMs`. `then`
 * runs more assertions on the same collector and server; both are closed at the end.
 */
export async function expectSilentServerTimeout(
  make: (port: number) => CollectorInstance,
  expected: (port: number) => RegExp,
  { timeoutMs, withinMs = 2000 }: { timeoutMs: number; withinMs?: number },
  then?: (collector: CollectorInstance, port: number) => Promise<void>,
): Promise<void> {
  const silent = await startSilentServer();
  const collector = make(silent.port);
  try {
    const startedAt = Date.now();
    await expect(collector.collect(runContext(timeoutMs))).rejects.toThrow(expected(silent.port));
    expect(Date.now() - startedAt).toBeLessThan(withinMs);
    await then?.(collector, silent.port);
  } finally {
    await collector.close?.();
    await silent.close();
  }
}

/** A TCP server on 127.0.0.1 that accepts connections and never answers (for timeout tests). */
interface SilentServer {
  port: number;
  /** Destroys the connections it accepted and closes the server. */
  close(): Promise<void>;
}

async function startSilentServer(): Promise<SilentServer> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket); // kept open, never read from nor written to
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The environment of a RabbitMQ server of a test's own: everything under `dir` (mnesia, logs, the
 * Erlang cookie's HOME), its own epmd and ports, loopback only, /etc/rabbitmq not read.
 */
export function rabbitmqEnv(
  dir: string,
  ports: { epmd: number; amqp: number; dist: number },
  nodeName: string,
): NodeJS.ProcessEnv {
  return {
    ...process.env,
    HOME: join(dir, 'home'), // the Erlang cookie goes here, not in the real home
    ERL_EPMD_ADDRESS: '127.0.0.1',
    ERL_EPMD_PORT: String(ports.epmd),
    RABBITMQ_NODENAME: `${nodeName}@localhost`,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(ports.amqp),
    RABBITMQ_DIST_PORT: String(ports.dist),
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'), // absent: no plugins
    RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'), // absent: /etc/rabbitmq's is not read
    RABBITMQ_PID_FILE: join(dir, 'rabbitmq.pid'),
  };
}
