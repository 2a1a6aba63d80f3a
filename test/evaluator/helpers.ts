// Shared fixtures for the evaluator tests: a providers object over in-memory data, and temporary
// host roots holding the files that file functions read.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { EvaluatorProviders } from '../../agent/evaluator/index.js';

export interface FakeProviderData {
  collectors?: Record<string, Record<string, unknown>>;
  groups?: string[];
  staticGroups?: string[];
  /** `${group}/${state}` -> count. */
  counts?: Record<string, number>;
  root?: string;
}

export function fakeProviders(data: FakeProviderData = {}): EvaluatorProviders {
  const collectors = new Map(Object.entries(data.collectors ?? {}));
  return {
    collectorData: (name) => collectors.get(name),
    groups: () => data.groups ?? [],
    staticGroups: () => data.staticGroups ?? [],
    countNodes: (group, state) => data.counts?.[`${group}/${state}`] ?? 0,
    paths: { root: data.root ?? '/nonexistent-root' },
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
