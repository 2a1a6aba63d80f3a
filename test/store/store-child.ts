// Test helper: a real Node process that uses the store, for what only another process shows (the
// lock, a SIGKILL, the fsyncs strace sees). The child runs an ES module body with `openStore` and
// `LevelCheckHistory` imported from the build (dist/, as bin/opsbro.js runs it): `npm test` builds
// first; a direct vitest run needs `npm run build`, and a stale build is refused rather than tested.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../helpers/agent-process.js';

const BUILT_MODULES = {
  store: join(REPO_ROOT, 'dist', 'agent', 'store', 'index.js'),
  history: join(REPO_ROOT, 'dist', 'agent', 'checks', 'level-history.js'),
};

/** Throws, saying what to run, when dist/ lacks the store or is older than its sources. */
export function requireFreshBuild(): void {
  for (const [source, built] of [
    [join(REPO_ROOT, 'agent', 'store'), join(REPO_ROOT, 'dist', 'agent', 'store')],
    [join(REPO_ROOT, 'agent', 'checks', 'level-history.ts'), BUILT_MODULES.history],
  ] as const) {
    if (!existsSync(built)) throw new Error(`${built} is missing: run \`npm run build\` first`);
    if (newestMtimeMs(source) > newestMtimeMs(built)) {
      throw new Error(`${built} is older than ${source}: run \`npm run build\` first`);
    }
  }
}

function newestMtimeMs(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newestMtimeMs(join(path, name))));
}

export interface StoreChild {
  readonly process: ChildProcess;
  /** Resolves with the first stdout line matching `pattern`; rejects if the child exits first or after `timeoutMs`. */
  line(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGKILLs the child (if still running) and resolves once it is gone. */
  kill(): Promise<void>;
  /** Resolves with the exit code once the child exits by itself. */
  exited(): Promise<number | null>;
  output(): string;
}

const children = new Set<ChildProcess>();

/** Kills every child still running (afterEach). */
export function killStoreChildren(): void {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
}

/**
 * Runs `body` in a new node process. The body sees `openStore`, `LevelCheckHistory`, and `args`
 * (the strings after the script). `command` prefixes the node command (strace, ...).
 */
export function storeChild(body: string, args: string[] = [], command: string[] = []): StoreChild {
  const script =
    `const { openStore } = await import(${JSON.stringify(pathToFileURL(BUILT_MODULES.store).href)});\n` +
    `const { LevelCheckHistory } = await import(${JSON.stringify(pathToFileURL(BUILT_MODULES.history).href)});\n` +
    `const args = process.argv.slice(1);\n${body}`;
  const argv = [...command, process.execPath, '--input-type=module', '-e', script, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO_ROOT });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  let exitedAlready = false;
  void exit.then(() => (exitedAlready = true));
  // 'close' comes after the last output: a line printed just before exiting is not missed.
  let closed = false;
  const closedAll = new Promise<void>((resolve) => child.once('close', () => resolve()));
  void closedAll.then(() => (closed = true));
  const output = () => `stdout: ${stdout}\nstderr: ${stderr}`;
  return {
    process: child,
    output,
    exited: () => exit,
    line(pattern, timeoutMs = 20_000) {
      return new Promise<string>((resolve, reject) => {
        const check = () => {
          const found = stdout.split('\n').find((line) => pattern.test(line));
          if (found === undefined) return false;
          cleanup();
          resolve(found);
          return true;
        };
        const onExit = () => {
          if (!check()) {
            cleanup();
            reject(new Error(`the child exited before printing ${pattern}\n${output()}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no line ${pattern} from the child within ${timeoutMs} ms\n${output()}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          child.stdout.off('data', check);
          child.off('close', onExit);
        };
        if (check()) return;
        if (closed) return onExit();
        child.stdout.on('data', check);
        child.once('close', onExit);
      });
    },
    /** SIGKILLs it; resolves once its output is all read (what output() then holds is whole). */
    async kill() {
      if (!exitedAlready) child.kill('SIGKILL');
      await exit;
      await closedAll;
    },
  };
}
