// Test helpers: real agents as real processes, each with its own temporary config dir, data dir and
// free port, cleaned up by PID and by the paths they created.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request, type RequestOptions } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { disabledPacksYaml, shippedPackNames } from '../../agent/config/index.js';
import { freePort } from '../../bench/gossip/procs.js';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
export const OPSBRO_BIN = join(REPO_ROOT, 'bin', 'opsbro.js');

/** A free TCP port on 127.0.0.1 (bound then released): the benches' helper. */
export { freePort };

/** A temporary directory removed by cleanupAll() (or the returned remover). */
const createdPaths: string[] = [];
export function tempDir(prefix = 'opsbro-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  createdPaths.push(dir);
  return dir;
}

/**
 * agent.yml lines that switch every shipped pack off: for tests about static groups and the like,
 * which must not depend on what this machine runs (detectors would add linux, debian, redis ...).
 */
export const WITHOUT_PACKS = `${disabledPacksYaml(shippedPackNames())}\n`;

export interface TestAgentDirs {
  root: string;
  configDir: string;
  dataDir: string;
  port: number;
  /** Where the API listens (default 127.0.0.1). */
  apiHost?: string;
}

/** A config dir whose agent.yml holds `extraYaml` (first, so its line numbers are its own) plus free ports. */
export async function prepareAgentDirs(extraYaml = ''): Promise<TestAgentDirs> {
  const root = tempDir();
  const configDir = join(root, 'etc');
  const dataDir = join(root, 'data');
  mkdirSync(join(configDir, 'conf.d'), { recursive: true });
  const [port, gossipPort, rpcPort] = [await freePort(), await freePort(), await freePort()];
  // Gossip and RPC on their own free ports too, so agents of parallel tests never collide.
  writeFileSync(
    join(configDir, 'agent.yml'),
    `${extraYaml}api:\n  bind: 127.0.0.1\n  port: ${port}\nbind_addr: 127.0.0.1\ngossip:\n  port: ${gossipPort}\nrpc:\n  port: ${rpcPort}\n`,
  );
  return { root, configDir, dataDir, port };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `opsbro ARGS...` to completion. */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 20_000): RunResult {
  const result = spawnSync(process.execPath, [OPSBRO_BIN, ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, NO_COLOR: '1', OPSBRO_API: '', OPSBRO_TOKEN: '', ...env },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const runningAgents = new Set<ChildProcess>();

export interface RunningAgent {
  process: ChildProcess;
  dirs: TestAgentDirs;
  output(): string;
  /** Resolves with the exit code (or signal) once the process is gone. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `opsbro agent start` in the foreground and waits until it reports itself started. */
export async function startAgent(
  dirs: TestAgentDirs,
  extraArgs: string[] = [],
  env: Record<string, string> = {},
): Promise<RunningAgent> {
  const child = spawn(
    process.execPath,
    [OPSBRO_BIN, 'agent', 'start', '--config-dir', dirs.configDir, '--data-dir', dirs.dataDir, ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', ...env } },
  );
  runningAgents.add(child);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) =>
    child.once('exit', (code, signal) => {
      runningAgents.delete(child);
      resolveExit({ code, signal });
    }),
  );
  const agent: RunningAgent = { process: child, dirs, output: () => output, exited };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`agent exited during start: ${output}`);
    try {
      // Started means every subsystem started, not just the API (it is up first).
      const reply = await httpGet(`http://${dirs.apiHost ?? '127.0.0.1'}:${dirs.port}/agent/state`);
      if ((JSON.parse(reply.body) as { state?: string }).state !== 'initializing') return agent;
      throw new Error('still initializing');
    } catch {
      if (Date.now() > deadline) throw new Error(`agent did not answer within 15 s: ${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A plain HTTP request: `url` is http://... or unix:/path:/http-path. */
export function httpGet(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<HttpReply> {
  let target: RequestOptions;
  if (url.startsWith('unix:')) {
    const [socketPath, path] = url.slice(5).split(':');
    target = { socketPath, path };
  } else {
    const parsed = new URL(url);
    target = { host: parsed.hostname, port: parsed.port, path: parsed.pathname + parsed.search };
  }
  return new Promise((resolveReply, reject) => {
    const req = request(
      { ...target, method: options.method ?? 'GET', headers: options.headers, timeout: 5000 },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () =>
          resolveReply({ status: response.statusCode ?? 0, headers: response.headers, body }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Kills every agent a test started (by PID) and removes every temp dir it made. */
export function cleanupAll(): void {
  for (const child of runningAgents) child.kill('SIGKILL');
  runningAgents.clear();
  for (const path of createdPaths.splice(0)) rmSync(path, { recursive: true, force: true });
}

/**
 * True while `pid` runs. A zombie counts as gone: a daemon's parent has exited, and this sandbox's
 * init does not always reap orphans at once.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
