// The SysV init script (init.d/opsbro) run for real, by /bin/sh, against real agents started with
// --daemon. Paths hold spaces on purpose: the script must quote everything.
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupAll, httpGet, isAlive, prepareAgentDirs, REPO_ROOT } from './helpers/agent-process.js';

const SCRIPT = join(REPO_ROOT, 'init.d', 'opsbro');

/** Settings the script reads from its defaults file; none may leak in from the test's environment. */
const SCRIPT_VARIABLES = [
  'OPSBRO_BIN',
  'CONFIG_DIR',
  'DATA_DIR',
  'NODE',
  'EXTRA_ARGS',
  'ENABLED',
  'STOP_TIMEOUT',
  'OPSBRO_API',
  'MALLOC_ARENA_MAX',
];

interface Setup {
  configDir: string;
  dataDir: string;
  pidfile: string;
  /** The agent's API through its unix socket (its TCP port is whatever was free: port 0). */
  api: string;
  defaultsFile: string;
}

interface ScriptResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Pids of daemons (and stand-ins) the tests caused: they are not our children, so kill them by pid. */
const pidsToKill = new Set<number>();

afterEach(() => {
  for (const pid of pidsToKill) {
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  pidsToKill.clear();
  cleanupAll();
});

/** A shell-quoted value for the defaults file (a shell fragment). */
function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * A config dir, data dir and bin dir, all with spaces in their paths, plus a defaults file that
 * points the script at them. `settings` are extra lines for the defaults file.
 */
async function setup(
  options: { settings?: Record<string, string>; extraYaml?: string } = {},
): Promise<Setup> {
  const dirs = await prepareAgentDirs(options.extraYaml);
  const configDir = join(dirs.root, 'config dir');
  renameSync(dirs.configDir, configDir);
  const dataDir = join(dirs.root, 'data dir');
  const binDir = join(dirs.root, 'bin dir');
  mkdirSync(binDir);
  const bin = join(binDir, 'opsbro.js');
  symlinkSync(join(REPO_ROOT, 'bin', 'opsbro.js'), bin);
  const settings: Record<string, string> = {
    OPSBRO_BIN: bin,
    NODE: process.execPath,
    CONFIG_DIR: configDir,
    DATA_DIR: dataDir,
    ...options.settings,
  };
  const defaultsFile = join(dirs.root, 'opsbro defaults');
  writeFileSync(
    defaultsFile,
    Object.entries(settings)
      .map(([name, value]) => `${name}=${shellQuote(value)}\n`)
      .join(''),
  );
  return {
    configDir,
    dataDir,
    pidfile: join(dataDir, 'opsbro.pid'),
    api: `unix:${join(dataDir, 'api.sock')}:`,
    defaultsFile,
  };
}

/** Runs `init.d/opsbro ACTION` as init would: the script itself, by its #! line. */
function runScript(setupDone: Setup, action: string, timeoutMs = 40_000): Promise<ScriptResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', OPSBRO_DEFAULTS: setupDone.defaultsFile };
  for (const name of SCRIPT_VARIABLES) delete env[name];
  return new Promise((resolveRun, reject) => {
    const child = spawn(SCRIPT, [action], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}

function readPidfile(pidfile: string): number {
  const pid = Number.parseInt(readFileSync(pidfile, 'utf8').trim(), 10);
  expect(pid).toBeGreaterThan(0);
  return pid;
}

/**
 * Alive and not a zombie. The daemon is re-parented to PID 1 once its launcher exits, and PID 1 on a
 * test machine may be slow to reap it: a zombie answers kill(pid, 0) but is not running.
 */
function isRunning(pid: number): boolean {
  if (!isAlive(pid)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return !existsSync('/proc/self');
  }
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolveWait) => setTimeout(resolveWait, 50));
  }
}

async function agentInfoPid(setupDone: Setup): Promise<number> {
  const reply = await httpGet(`${setupDone.api}/agent/info`);
  expect(reply.status).toBe(200);
  return (JSON.parse(reply.body) as { pid: number }).pid;
}

/** A pid that is certainly not running: a process that has already exited and been reaped. */
function deadPid(): number {
  const result = spawnSync(process.execPath, ['-e', '']);
  expect(result.pid).toBeGreaterThan(0);
  return result.pid;
}

describe('init.d/opsbro', () => {
  it('is an executable script with an LSB header that does not need /lib/lsb/init-functions', () => {
    expect(statSync(SCRIPT).mode & 0o111).not.toBe(0);
    const text = readFileSync(SCRIPT, 'utf8');
    expect(text).toMatch(/^#!\/bin\/sh\n/);
    expect(text).toMatch(/### BEGIN INIT INFO\n[\s\S]*# Provides: +opsbro\n[\s\S]*### END INIT INFO/);
    expect(text).not.toMatch(/^[^#]*init-functions/m);
  });

  it('starts, reports, reloads, restarts and stops a real agent', { timeout: 90_000 }, async () => {
    const s = await setup();

    let result = await runScript(s, 'status');
    expect(result.code, result.stdout + result.stderr).toBe(3);
    expect(result.stdout).toMatch(/not running/);

    result = await runScript(s, 'start');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const pid = readPidfile(s.pidfile);
    pidsToKill.add(pid);
    expect(result.stdout).toContain(`(pid ${pid})`);
    expect(isRunning(pid)).toBe(true);
    expect(await agentInfoPid(s)).toBe(pid);
    // The agent runs with the malloc arenas the script sets (the defaults file does not set them).
    expect(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')).toContain('MALLOC_ARENA_MAX=2');
    // The unix socket in the data dir (a path with a space) answers too.
    const overSocket = await httpGet(`unix:${join(s.dataDir, 'api.sock')}:/agent/info`);
    expect((JSON.parse(overSocket.body) as { pid: number }).pid).toBe(pid);

    result = await runScript(s, 'start');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`already running \\(pid ${pid}\\)`));
    expect(readPidfile(s.pidfile)).toBe(pid);

    result = await runScript(s, 'status');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain(`running (pid ${pid})`);

    const logFile = join(s.dataDir, 'logs', 'opsbro.log');
    result = await runScript(s, 'reload');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    // SIGHUP reached the agent (it logs the reload) and did not stop it.
    await waitFor('the reload in the log', () =>
      readFileSync(logFile, 'utf8').includes('configuration reloaded'),
    );
    expect(isRunning(pid)).toBe(true);
    expect(await agentInfoPid(s)).toBe(pid);

    result = await runScript(s, 'force-reload');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(isRunning(pid)).toBe(true);

    result = await runScript(s, 'restart');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(isRunning(pid)).toBe(false);
    const newPid = readPidfile(s.pidfile);
    pidsToKill.add(newPid);
    expect(newPid).not.toBe(pid);
    expect(await agentInfoPid(s)).toBe(newPid);

    result = await runScript(s, 'stop');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/SIGKILL/);
    expect(isRunning(newPid)).toBe(false);
    expect(existsSync(s.pidfile)).toBe(false);
    await expect(httpGet(`${s.api}/agent/info`)).rejects.toThrow();

    result = await runScript(s, 'status');
    expect(result.code, result.stdout + result.stderr).toBe(3);

    result = await runScript(s, 'stop');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/not running/);

    result = await runScript(s, 'reload');
    expect(result.code, result.stdout + result.stderr).toBe(7);
  });

  it('reports a stale pidfile as dead (1), and stop clears it', async () => {
    const s = await setup();
    mkdirSync(s.dataDir, { recursive: true });
    const pid = deadPid();
    writeFileSync(s.pidfile, `${pid}\n`);

    let result = await runScript(s, 'status');
    expect(result.code, result.stdout + result.stderr).toBe(1);
    expect(result.stdout).toMatch(/dead but pidfile exists/);

    result = await runScript(s, 'stop');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(existsSync(s.pidfile)).toBe(false);

    result = await runScript(s, 'status');
    expect(result.code, result.stdout + result.stderr).toBe(3);
  });

  it('does not take a recycled pid (another program) for the agent, and never signals it', async () => {
    const s = await setup();
    mkdirSync(s.dataDir, { recursive: true });
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    const otherPid = other.pid!;
    pidsToKill.add(otherPid);
    writeFileSync(s.pidfile, `${otherPid}\n`);

    let result = await runScript(s, 'status');
    expect(result.code, result.stdout + result.stderr).toBe(1);

    result = await runScript(s, 'stop');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(isRunning(otherPid)).toBe(true);
    expect(other.exitCode).toBeNull();
    expect(other.signalCode).toBeNull();

    // start is not fooled either: it starts the agent.
    result = await runScript(s, 'start');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const pid = readPidfile(s.pidfile);
    pidsToKill.add(pid);
    expect(pid).not.toBe(otherPid);
    expect(await agentInfoPid(s)).toBe(pid);

    result = await runScript(s, 'stop');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(isRunning(pid)).toBe(false);
    expect(isRunning(otherPid)).toBe(true);
  });

  it('passes on the exit status and reason when the agent refuses to start', async () => {
    // The API beyond loopback without authentication: the agent refuses, with a reason.
    const s = await setup();
    const agentYml = join(s.configDir, 'agent.yml');
    writeFileSync(agentYml, readFileSync(agentYml, 'utf8').replace('bind: 127.0.0.1', 'bind: 0.0.0.0'));

    let result = await runScript(s, 'start');
    expect(result.code, result.stdout + result.stderr).toBe(1);
    expect(result.stderr).toMatch(/config error/);
    expect(existsSync(s.pidfile)).toBe(false);

    result = await runScript(s, 'status');
    expect(result.code, result.stdout + result.stderr).toBe(3);
  });

  it('runs `agent start --daemon` with the dirs quoted and EXTRA_ARGS split, unglobbed, never evaluated', async () => {
    const s = await setup({ settings: { EXTRA_ARGS: '--auto-detect  *  --x=$HOME' } });
    // A stand-in opsbro that prints the arguments it was given.
    const echo = join(s.configDir, '..', 'bin dir', 'opsbro-echo.cjs');
    writeFileSync(echo, 'console.log(JSON.stringify(process.argv.slice(2)));\n');
    writeFileSync(s.defaultsFile, `OPSBRO_BIN=${shellQuote(echo)}\n`, { flag: 'a' });

    const result = await runScript(s, 'start');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const argsLine = result.stdout.split('\n').find((line) => line.startsWith('['));
    expect(JSON.parse(argsLine ?? 'null')).toEqual([
      'agent',
      'start',
      '--daemon',
      '--config-dir',
      s.configDir,
      '--data-dir',
      s.dataDir,
      '--auto-detect',
      '*',
      '--x=$HOME',
    ]);
  });

  it('does not start when ENABLED=no', async () => {
    const s = await setup({ settings: { ENABLED: 'no' } });
    let result = await runScript(s, 'start');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/disabled/);
    expect(existsSync(s.pidfile)).toBe(false);

    result = await runScript(s, 'status');
    expect(result.code, result.stdout + result.stderr).toBe(3);
  });

  it('exits 5 when the opsbro command is missing', async () => {
    const s = await setup({ settings: { OPSBRO_BIN: '/nonexistent dir/opsbro.js' } });
    const result = await runScript(s, 'start');
    expect(result.code, result.stdout + result.stderr).toBe(5);
    expect(result.stderr).toContain('/nonexistent dir/opsbro.js');
  });

  it('exits 2 with a usage line on an unknown action', async () => {
    const s = await setup();
    const result = await runScript(s, 'frobnicate');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/Usage: .*start\|stop\|status\|restart\|reload/);
  });

  it('sends SIGKILL, and says so, when the agent ignores SIGTERM', async () => {
    // A stand-in agent that ignores SIGTERM; its name holds "opsbro", like the real command line.
    const s = await setup({ settings: { STOP_TIMEOUT: '1' } });
    const stubborn = join(s.configDir, '..', 'bin dir', 'opsbro-stubborn.cjs');
    writeFileSync(
      stubborn,
      `const { spawn } = require('node:child_process');
const { existsSync, mkdirSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const args = process.argv.slice(2);
if (args[0] === 'run') {
  process.on('SIGTERM', () => {});
  writeFileSync(join(args[1], 'opsbro.pid'), process.pid + '\\n');
  setInterval(() => {}, 1000);
} else {
  const dataDir = args[args.indexOf('--data-dir') + 1];
  mkdirSync(dataDir, { recursive: true });
  const child = spawn(process.execPath, [__filename, 'run', dataDir], { detached: true, stdio: 'ignore' });
  child.unref();
  const pidfile = join(dataDir, 'opsbro.pid');
  const deadline = Date.now() + 10000;
  while (!existsSync(pidfile) && Date.now() < deadline) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
  console.log('stubborn agent started (pid ' + child.pid + ')');
}
`,
    );
    writeFileSync(s.defaultsFile, `OPSBRO_BIN=${shellQuote(stubborn)}\n`, { flag: 'a' });

    let result = await runScript(s, 'start');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const pid = readPidfile(s.pidfile);
    pidsToKill.add(pid);
    expect(isRunning(pid)).toBe(true);

    result = await runScript(s, 'stop');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stderr).toMatch(/SIGKILL/);
    expect(isRunning(pid)).toBe(false);
    expect(existsSync(s.pidfile)).toBe(false);
  });
});
