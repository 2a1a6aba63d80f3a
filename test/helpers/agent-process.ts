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

/**
 * A port free for TCP and UDP on 127.0.0.1 when asked (bound, then released: a race, see procs.ts).
 * For a port a test must name in advance; an agent's own listeners bind port 0 instead (below).
 */
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
  /**
   * The API's TCP port. prepareAgentDirs() lets the agent pick it (port 0): it is 0 until
   * startAgent() has read it from the running agent, then the port it listens on.
   */
  port: number;
  /** Where the API listens (default 127.0.0.1). */
  apiHost?: string;
  /** The agent.yml asks for API port 0: startAgent() reads the port from the agent (each start). */
  apiPortFromAgent?: boolean;
  /**
   * The RPC port chosen in advance (freePort), written as `rpc:\n  port: N\n` in `rpcPortFile`
   * (default: agent.yml): startAgent() writes another there if it was taken meanwhile.
   */
  chosenRpcPort?: number;
  rpcPortFile?: string;
}

/**
 * A config dir whose agent.yml holds `extraYaml` (first, so its line numbers are its own) plus the
 * listeners of an agent that collides with no other test's:
 * - the API and gossip on port 0: the agent binds whatever port is free and reports it in
 *   /agent/info (`ports`), which startAgent() reads through the unix socket. No race.
 * - the cluster RPC on a port chosen here: the agent advertises it to other nodes as configured,
 *   so it must be named in advance. freePort() can only say it was free a moment ago: startAgent()
 *   starts again on another when the agent finds it taken (EADDRINUSE).
 * `apiPort` names the API's port instead (a test about that port itself).
 */
export async function prepareAgentDirs(
  extraYaml = '',
  options: { apiPort?: number } = {},
): Promise<TestAgentDirs> {
  const root = tempDir();
  const configDir = join(root, 'etc');
  const dataDir = join(root, 'data');
  mkdirSync(join(configDir, 'conf.d'), { recursive: true });
  const apiPort = options.apiPort ?? 0;
  const rpcPort = await freePort();
  writeFileSync(join(configDir, 'agent.yml'), `${extraYaml}${listenersYaml(apiPort, rpcPort)}`);
  return { root, configDir, dataDir, port: apiPort, apiPortFromAgent: apiPort === 0, chosenRpcPort: rpcPort };
}

function listenersYaml(apiPort: number, rpcPort: number): string {
  return `api:\n  bind: 127.0.0.1\n  port: ${apiPort}\nbind_addr: 127.0.0.1\ngossip:\n  port: 0\nrpc:\n  port: ${rpcPort}\ndns:\n  port: 0\nstatsd:\n  port: 0\ngraphite:\n  port: 0\n`;
}

/** Starts of one agent on another RPC port when the chosen one was taken meanwhile. */
const PORT_ATTEMPTS = 3;

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

/**
 * Starts `opsbro agent start` in the foreground and waits until it reports itself started. When the
 * agent exits at start because the RPC port prepareAgentDirs() chose was taken in the meantime
 * (the race freePort() cannot close), it starts it again on another, up to PORT_ATTEMPTS times.
 */
export async function startAgent(
  dirs: TestAgentDirs,
  extraArgs: string[] = [],
  env: Record<string, string> = {},
): Promise<RunningAgent> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startAgentOnce(dirs, extraArgs, env);
    } catch (error) {
      const rpcPort = dirs.chosenRpcPort;
      const taken =
        error instanceof AgentExitedAtStart &&
        rpcPort !== undefined &&
        error.output.includes(
          `cluster RPC cannot listen on 127.0.0.1:${rpcPort}: the port is already in use`,
        );
      if (!taken || attempt >= PORT_ATTEMPTS) throw error;
      const next = await freePort();
      const file = dirs.rpcPortFile ?? join(dirs.configDir, 'agent.yml');
      writeFileSync(
        file,
        readFileSync(file, 'utf8').replace(`rpc:\n  port: ${rpcPort}\n`, `rpc:\n  port: ${next}\n`),
      );
      dirs.chosenRpcPort = next;
      console.warn(`startAgent: RPC port ${rpcPort} was taken meanwhile; starting again on ${next}`);
    }
  }
}

/** The agent exited before it was started; `output` is all it printed. */
class AgentExitedAtStart extends Error {
  constructor(readonly output: string) {
    super(`agent exited during start: ${output}`);
  }
}

async function startAgentOnce(
  dirs: TestAgentDirs,
  extraArgs: string[],
  env: Record<string, string>,
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
  // An API on port 0 is reached through the unix socket first, which tells its TCP port.
  const api = dirs.apiPortFromAgent
    ? `unix:${join(dirs.dataDir, 'api.sock')}:`
    : `http://${dirs.apiHost ?? '127.0.0.1'}:${dirs.port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new AgentExitedAtStart(output);
    try {
      // Started means every subsystem started, not just the API (it is up first).
      const reply = await httpGet(`${api}/agent/state`);
      if ((JSON.parse(reply.body) as { state?: string }).state === 'initializing')
        throw new Error('still initializing');
      if (dirs.apiPortFromAgent) {
        const info = JSON.parse((await httpGet(`${api}/agent/info`)).body) as { ports: { api: number } };
        dirs.port = info.ports.api;
      }
      return agent;
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

/**
 * A plain HTTP request: `url` is http://... or unix:/path:/http-path. Node's global agent keeps
 * connections alive; a test that blocks its event loop (runCli's spawnSync) past the agent's 5 s
 * keep-alive timeout holds a pooled socket the agent has closed, unseen. A GET or HEAD sent on it
 * fails with ECONNRESET before the agent read it, so it is sent once more on a new connection
 * (what Node's documentation advises for `request.reusedSocket`).
 */
export async function httpGet(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<HttpReply> {
  try {
    return await httpRequest(url, options);
  } catch (error) {
    const method = options.method ?? 'GET';
    const staleSocket = (error as { reusedSocket?: boolean }).reusedSocket === true;
    if (!staleSocket || (error as NodeJS.ErrnoException).code !== 'ECONNRESET') throw error;
    if (method !== 'GET' && method !== 'HEAD') throw error;
    return httpRequest(url, options);
  }
}

function httpRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer },
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
    req.on('error', (error) => reject(Object.assign(error, { reusedSocket: req.reusedSocket })));
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
