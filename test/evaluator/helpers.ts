// Shared fixtures for the evaluator tests: a providers object over in-memory data, temporary host
// roots holding the files that file functions read, timers the test drives, and waiting helpers.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { EvaluatorProviders, ProtectedPath } from '../../agent/evaluator/index.js';

export interface FakeProviderData {
  collectors?: Record<string, Record<string, unknown>>;
  groups?: string[];
  staticGroups?: string[];
  /** `${group}/${state}` -> count. */
  counts?: Record<string, number>;
  root?: string;
  /** What file functions must refuse (main passes the data dir, config dir and key file). */
  protectedPaths?: ProtectedPath[];
  /** get_env's allowed names; default: the agent's default list. */
  envAllowList?: string[];
}

/** agent.yml's default evaluator.env_allow. */
export const DEFAULT_ENV_ALLOW = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'HOSTNAME', 'USER', 'SHELL'];

export function fakeProviders(data: FakeProviderData = {}): EvaluatorProviders {
  const collectors = new Map(Object.entries(data.collectors ?? {}));
  return {
    collectorData: (name) => collectors.get(name),
    groups: () => data.groups ?? [],
    staticGroups: () => data.staticGroups ?? [],
    countNodes: (group, state) => data.counts?.[`${group}/${state}`] ?? 0,
    paths: { root: data.root ?? '/nonexistent-root', protectedPaths: data.protectedPaths ?? [] },
    envAllowList: () => data.envAllowList ?? DEFAULT_ENV_ALLOW,
  };
}

const roots: string[] = [];

/** A temporary directory standing for `/`: files maps absolute paths to contents; `links` to targets. */
export function fixtureRoot(files: Record<string, string> = {}, links: Record<string, string> = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'opsbro-evaluator-'));
  roots.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  for (const [path, target] of Object.entries(links)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    symlinkSync(target, join(root, path));
  }
  return root;
}

export function removeFixtureRoots(): void {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
}

/** Resolves once `condition()` holds, checking every few ms; fails after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** This process's threads, as the kernel counts them. */
export function threadCount(pid: number | 'self' = 'self'): number {
  return readdirSync(`/proc/${pid}/task`).length;
}

export { ManualTimers } from '../helpers/manual-timers.js';
