// Every process and temp dir the bench creates is registered here, so one cleanup (normal end, error,
// Ctrl-C/SIGTERM) stops them by pid and removes the dirs. Nothing is killed by name.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  /** Tail of stdout+stderr, shown when it dies or fails. */
  output: string;
  exited: Promise<void>;
}

const procs = new Set<Proc>();
const dirs = new Set<string>();
const finalizers: (() => void | Promise<void>)[] = [];

export function running(proc: Proc): boolean {
  return proc.child.exitCode === null && proc.child.signalCode === null;
}

export function track(name: string, command: string, args: string[], options: SpawnOptions = {}): Proc {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  if (child.pid === undefined) {
    // spawn's 'error' (ENOENT: not installed) comes after this throw; unheard, it would end the bench.
    child.on('error', () => undefined);
    throw new Error(`could not start ${name}: ${command} ${args.join(' ')}`);
  }
  const proc: Proc = {
    name,
    child,
    pid: child.pid,
    output: '',
    exited: new Promise((resolve) => child.once('exit', () => resolve())),
  };
  const keep = (chunk: Buffer): void => {
    proc.output = (proc.output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('error', (err) => keep(Buffer.from(String(err))));
  procs.add(proc);
  void proc.exited.then(() => procs.delete(proc));
  return proc;
}

/**
 * The environment agents run with: the malloc arenas the systemd unit and the init script set
 * (2; glibc's default is 8 per core), so that benchmarks measure the agent as installed.
 */
export const AGENT_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2',
};

/** The repository's `opsbro` command. */
export const OPSBRO_BIN = fileURLToPath(new URL('../../../bin/opsbro.js', import.meta.url));

/** `opsbro agent start` on a config and a data dir, tracked like any process; `nodeArgs` go to node. */
export function trackAgent(
  name: string,
  configDir: string,
  dataDir: string,
  options: { bin?: string; nodeArgs?: string[] } = {},
): Proc {
  return track(
    name,
    process.execPath,
    [
      ...(options.nodeArgs ?? []),
      options.bin ?? OPSBRO_BIN,
      'agent',
      'start',
      '--config-dir',
      configDir,
      '--data-dir',
      dataDir,
    ],
    { env: AGENT_ENV },
  );
}

export function describeExit(proc: Proc): string {
  const how = proc.child.signalCode ?? `code ${String(proc.child.exitCode)}`;
  return `${proc.name} (pid ${proc.pid}) exited (${how}); its output:\n${proc.output.trim() || '(none)'}`;
}

/** Runs a command to completion (tracked, so Ctrl-C stops it too); resolves with exit code and output. */
export async function run(
  name: string,
  command: string,
  args: string[],
  timeoutMs = 30_000,
): Promise<{ code: number | null; output: string }> {
  const proc = track(name, command, args);
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs);
  await proc.exited;
  clearTimeout(timer);
  return { code: proc.child.exitCode, output: proc.output };
}

/**
 * Calls `attempt` every `pauseMs` until it succeeds (an agent getting ready): fails at once if `proc`
 * exits, and with `what`, the last error and the process output after `timeoutMs`.
 */
export async function retryWhileRunning<T>(
  proc: Proc,
  what: string,
  timeoutMs: number,
  pauseMs: number,
  attempt: () => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!running(proc)) throw new Error(describeExit(proc));
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`${proc.name}: ${what}: ${String(err)}\n${proc.output}`, { cause: err });
      await sleep(pauseMs);
    }
  }
}

/**
 * A port free on 127.0.0.1 for TCP and for UDP alike, at the time of the call: the kernel picks a
 * free TCP port (bind to port 0), then the same number is bound for UDP too (an agent's gossip
 * socket and its API or RPC listener may be told one port each, but a port handed out here must
 * suit either); when UDP holds it, another try. Both are released before it returns, so this is a
 * race: another process may take the port before the caller binds it. Code that can bind port 0
 * itself and report what it got should do that instead; a caller that must name a port in advance
 * must be ready for EADDRINUSE (test/helpers/agent-process.ts starts the agent again on another).
 */
export async function freePort(attempts = 20): Promise<number> {
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    if (await udpFree(port)) return port;
  }
  throw new Error(`no port free for both TCP and UDP on 127.0.0.1 in ${attempts} tries`);
}

/** Whether UDP `port` of 127.0.0.1 can be bound now (bound, then released). */
function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
  });
}

/** SIGTERM, then SIGKILL after graceMs if still running. */
export async function stop(proc: Proc, graceMs = 5000): Promise<void> {
  if (!running(proc)) return;
  proc.child.kill('SIGTERM');
  if ((await Promise.race([proc.exited.then(() => 'exited'), sleep(graceMs, 'timeout')])) === 'timeout') {
    proc.child.kill('SIGKILL');
    await proc.exited;
  }
}

export async function stopAll(procsToStop: Proc[], graceMs = 5000): Promise<void> {
  await Promise.all(procsToStop.map((p) => stop(p, graceMs)));
}

/** Stops every tracked process still running (systems run one at a time, so: this run's agents). */
export async function stopEverything(graceMs = 5000): Promise<void> {
  await stopAll([...procs], graceMs);
}

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

/** Run at cleanup (after processes stop), e.g. removing the nftables table. */
export function onCleanup(fn: () => void | Promise<void>): void {
  finalizers.push(fn);
}

let cleaning: Promise<void> | undefined;
export function cleanup(): Promise<void> {
  return (cleaning ??= (async () => {
    await stopAll([...procs]);
    for (const dir of [...dirs]) removeDir(dir);
    for (const fn of finalizers.splice(0)) {
      try {
        await fn();
      } catch (err) {
        console.error(`cleanup: ${String(err)}`);
      }
    }
  })());
}

/** Last resort on process exit (synchronous): SIGKILL whatever is left, remove the dirs. */
export function cleanupSync(): void {
  for (const proc of procs) if (running(proc)) proc.child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}

/**
 * Ctrl-C or SIGTERM stops every process and removes the temp dirs (a second Ctrl-C SIGKILLs what is
 * left at once); on exit the same, synchronously. `alsoSync` runs after each synchronous cleanup
 * (a bench SIGKILLs there what its measured trees left). Returns whether a signal came: a bench
 * then ends quietly instead of reporting the failures the stop caused.
 */
export function stopOnSignals(tag: string, alsoSync: () => void = () => undefined): () => boolean {
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) {
      cleanupSync();
      alsoSync();
      process.exit(130);
    }
    interrupted = true;
    process.stderr.write(`\n[${tag}] ${signal}: stopping every process and removing temp dirs\n`);
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', () => {
    cleanupSync();
    alsoSync();
  });
  return () => interrupted;
}

/**
 * Runs a bench's `main`: a failure prints `<tag> failed: <why>` and sets exit code 1, unless a stop
 * signal caused it (`interrupted`, from stopOnSignals); then removes what the bench made.
 */
export function runBench(tag: string, main: () => Promise<void>, interrupted: () => boolean): void {
  main()
    .catch((err: unknown) => {
      if (interrupted()) return;
      console.error(`${tag} failed: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 1;
    })
    .finally(() => {
      if (!interrupted()) void cleanup();
    });
}

/** CPU time of every thread of a live process, in ns (schedstat: 10 ms clock ticks are too coarse). */
export function cpuNs(pid: number): number {
  let total = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return total;
}

export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
}

/** Runs fn over items with at most `limit` in flight. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
