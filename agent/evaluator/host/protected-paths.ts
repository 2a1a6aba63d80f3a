// What expressions may never read, whatever path leads there. The agent's data dir (keyring,
// local admin token, node id, libp2p key, stores), its config dir (agent.yml and conf.d hold
// encryption_key and auth tokens) and any file main names (encryption_key_file, the config files
// the loader read, wherever their symlinks lead) are recognised by identity, not by name: the real path of the opened file (from /proc/self/fd, so symlinks, `..`
// and /proc/self/root are already resolved) is walked up and each directory's device and inode
// compared with the protected directories' (bind mounts too), and a file with other hard links is
// looked for among the protected directories' files. Process environments and memory are
// recognised by their /proc names: they have no identity to compare.
import type { BigIntStats } from 'node:fs';
import { lstat, readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { orMissing } from './fs-errors.js';

/** A file or directory expressions may not read, and how a refusal names it. */
export interface ProtectedPath {
  path: string;
  /** "the agent's data dir", "the cluster key file (encryption_key_file)". */
  what: string;
}

/** Runs one file-system call (through the evaluator's I/O gate). */
export type FsCall = <T>(call: () => Promise<T>) => Promise<T>;

/**
 * /proc/<pid>/environ, /proc/<pid>/task/<tid>/environ (a process's environment: where services
 * get their passwords), /proc/<pid>/mem and task mem (its memory), /proc/kcore (the kernel's).
 * Matched on the real path of what was opened (links to them count too) and, before anything is
 * opened, on the path as named: /proc/thread-self/ names a different file for each thread that
 * looks, so its stat and open never agree and only the name can be judged.
 */
const PROCESS_SECRETS = /(?:\/(?:\d+|self|thread-self)(?:\/task\/\d+)?\/(?:environ|mem)|\/proc\/kcore)$/;
const PROCESS_SECRET_REASON = "is a process's environment or memory";

/** Bounds of the walk that looks for a hard link's other names; beyond them the file is refused. */
const MAX_WALK_ENTRIES = 10_000;
const MAX_WALK_DEPTH = 16;

const BIGINT = { bigint: true } as const;

export class ProtectedPaths {
  private readonly entries: () => readonly ProtectedPath[];

  constructor(
    /** A function is asked at each check: the config files change on reload. */
    entries: readonly ProtectedPath[] | (() => readonly ProtectedPath[]),
    private readonly fsCall: FsCall,
  ) {
    this.entries = typeof entries === 'function' ? entries : () => entries;
  }

  /**
   * Why the object at `realPath` (with identity `stats`, from the same open or stat) must not be
   * read, e.g. "is in the agent's data dir"; undefined when it may be.
   */
  async refusal(realPath: string, stats: BigIntStats): Promise<string | undefined> {
    const byName = this.nameRefusal(realPath);
    if (byName) return byName;
    const entries = this.entries();
    if (entries.length === 0) return undefined;
    // Looked up at each check: a protected path created or replaced later is still recognised.
    const present = (
      await Promise.all(
        entries.map(async (entry) => ({ entry, stats: await this.statOrUndefined(entry.path) })),
      )
    ).filter((item): item is { entry: ProtectedPath; stats: BigIntStats } => item.stats !== undefined);
    for (const item of present) if (sameObject(item.stats, stats)) return `is ${item.entry.what}`;
    const directories = present.filter((item) => item.stats.isDirectory());
    if (directories.length === 0) return undefined;
    for (const ancestor of await this.ancestors(realPath)) {
      const holder = directories.find((item) => sameObject(item.stats, ancestor));
      if (holder) return `is in ${holder.entry.what}`;
    }
    if (!stats.isFile() || stats.nlink < 2n) return undefined;
    // Another name of a protected file (a hard link) can only be on the same file system.
    for (const item of directories.filter((directory) => directory.stats.dev === stats.dev)) {
      const found = await this.holdsFile(item.entry.path, stats);
      if (found === 'yes') return `is another name (a hard link) of a file in ${item.entry.what}`;
      if (found === 'unsure') {
        return `has other names (hard links) and ${item.entry.what} is too large to rule out that they are in it`;
      }
    }
    return undefined;
  }

  /** Why a path is refused by its name alone (a process's environment or memory), or undefined. */
  nameRefusal(path: string): string | undefined {
    return PROCESS_SECRETS.test(path) ? PROCESS_SECRET_REASON : undefined;
  }

  /** The identities of the directories above `realPath`, nearest first. */
  private async ancestors(realPath: string): Promise<BigIntStats[]> {
    const paths: string[] = [];
    for (let path = dirname(realPath); ; path = dirname(path)) {
      paths.push(path);
      if (dirname(path) === path) break;
    }
    const found = await Promise.all(paths.map((path) => this.statOrUndefined(path)));
    return found.filter((item): item is BigIntStats => item !== undefined);
  }

  /** Whether a file below `directory` is the same file as `target`: 'unsure' past the walk's bounds. */
  private async holdsFile(directory: string, target: BigIntStats): Promise<'yes' | 'no' | 'unsure'> {
    let budget = MAX_WALK_ENTRIES;
    const pending: Array<{ path: string; depth: number }> = [{ path: directory, depth: 0 }];
    while (pending.length > 0) {
      const { path, depth } = pending.pop()!;
      const entries = (await orMissing(this.fsCall(() => readdir(path, { withFileTypes: true })))) ?? [];
      budget -= entries.length;
      if (budget < 0) return 'unsure';
      for (const entry of entries) {
        const child = join(path, entry.name);
        if (entry.isDirectory()) {
          if (depth + 1 > MAX_WALK_DEPTH) return 'unsure';
          pending.push({ path: child, depth: depth + 1 });
        } else if (entry.isFile()) {
          const stats = await orMissing(this.fsCall(() => lstat(child, BIGINT)));
          if (stats && sameObject(stats, target)) return 'yes';
        }
      }
    }
    return 'no';
  }

  private statOrUndefined(path: string): Promise<BigIntStats | undefined> {
    return orMissing(this.fsCall(() => stat(path, BIGINT)));
  }
}

/** Same device and inode: the same file or directory, whichever name reached it. */
export function sameObject(a: BigIntStats, b: BigIntStats): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}
