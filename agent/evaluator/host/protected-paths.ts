// What expressions may never read, whatever path leads there. The agent's data dir (keyring,
// local admin token, node id, libp2p key, stores), its config dir (agent.yml and conf.d hold
// encryption_key and auth tokens) and any file main names (encryption_key_file, the config files
// the loader read, wherever their symlinks lead) are recognised by identity, not by name: the real
// path of what was reached (from /proc/self/fd, so symlinks, `..` and /proc/self/root are already
// resolved) is walked up and each directory's device and inode compared with the protected
// directories' (bind mounts too). A file with other names (hard links) may be one of the
// protected directories' files under another name: those are recognised by a set of the protected
// files that have other names, kept and rebuilt now and then (LinkedFiles below), not by a walk
// on each read. Process environments and memory are recognised by their /proc names: they have no
// identity to compare.
import type { BigIntStats, Dirent } from 'node:fs';
import { lstat, readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isFsError, orMissing } from './fs-errors.js';

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

/**
 * The set of protected files with other names is rebuilt when it is older than this, or when a
 * protected directory itself changed (its identity or mtime: an entry added, removed, renamed).
 */
const LINKED_FILES_MAX_AGE_MS = 5_000;
/**
 * A walk that took W ms is not started again within this many times W: a large data dir is walked
 * less often, so the walks take at most about a tenth of one I/O-gate slot.
 */
const WALK_SPACING_FACTOR = 10;
/** Bounds of one walk; past them the set is incomplete and its device's linked files are refused. */
const MAX_WALK_ENTRIES = 100_000;
const MAX_WALK_DEPTH = 32;

const BIGINT = { bigint: true } as const;

/** Monotonic milliseconds (performance.now in the agent; tests drive it). */
export type Clock = () => number;

/** A protected path that exists, with its identity at this check. */
interface PresentPath {
  entry: ProtectedPath;
  stats: BigIntStats;
}

/**
 * Every regular file below the protected directories that has other names (nlink >= 2), by
 * device and inode: only such a file can be reached by a name outside them. Built by one bounded
 * walk; `incomplete` names the directories whose walk hit a bound (by device).
 */
interface LinkedFiles {
  /** The protected directories (path, identity, mtime) the set was built from. */
  signature: string;
  startedAtMs: number;
  walkMs: number;
  files: Map<string, string>;
  incomplete: Array<{ dev: bigint; what: string }>;
}

export class ProtectedPaths {
  private readonly entries: () => readonly ProtectedPath[];
  private linked?: LinkedFiles;
  /** The walk in progress: checks that need the set meanwhile wait for it rather than walk too. */
  private building?: Promise<LinkedFiles>;

  constructor(
    /** A function is asked at each check: the config files change on reload. */
    entries: readonly ProtectedPath[] | (() => readonly ProtectedPath[]),
    private readonly fsCall: FsCall,
    private readonly clock: Clock = () => performance.now(),
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
    ).filter((item): item is PresentPath => item.stats !== undefined);
    for (const item of present) if (sameObject(item.stats, stats)) return `is ${item.entry.what}`;
    const directories = present.filter((item) => item.stats.isDirectory());
    if (directories.length === 0) return undefined;
    for (const ancestor of await this.ancestors(realPath)) {
      const holder = directories.find((item) => sameObject(item.stats, ancestor));
      if (holder) return `is in ${holder.entry.what}`;
    }
    if (!stats.isFile() || stats.nlink < 2n) return undefined;
    // Another name of a protected file (a hard link) can only be on the same file system.
    if (!directories.some((item) => item.stats.dev === stats.dev)) return undefined;
    const linked = await this.linkedFiles(directories);
    const holder = linked.files.get(identityKey(stats));
    if (holder) return `is another name (a hard link) of a file in ${holder}`;
    const unsure = linked.incomplete.find((item) => item.dev === stats.dev);
    if (unsure) {
      return `has other names (hard links) and ${unsure.what} is too large to rule out that they are in it`;
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

  /**
   * The set of protected files with other names: the one kept, unless it is older than
   * LINKED_FILES_MAX_AGE_MS or a protected directory changed since; either way not rebuilt sooner
   * than WALK_SPACING_FACTOR times the last walk's duration after it.
   */
  private async linkedFiles(directories: PresentPath[]): Promise<LinkedFiles> {
    const signature = directories
      .map(({ entry, stats }) => `${entry.path}\0${stats.dev}:${stats.ino}:${stats.mtimeNs}`)
      .join('\n');
    const nowMs = this.clock();
    const kept = this.linked;
    if (kept) {
      const ageMs = nowMs - kept.startedAtMs;
      const spacingMs = WALK_SPACING_FACTOR * kept.walkMs;
      const due = kept.signature !== signature || ageMs >= LINKED_FILES_MAX_AGE_MS;
      if (!due || ageMs < spacingMs) return kept;
    }
    this.building ??= this.walk(directories, signature, nowMs).finally(() => (this.building = undefined));
    this.linked = await this.building;
    return this.linked;
  }

  /** One bounded walk of every protected directory, collecting its files with other names. */
  private async walk(
    directories: PresentPath[],
    signature: string,
    startedAtMs: number,
  ): Promise<LinkedFiles> {
    const files = new Map<string, string>();
    const incomplete: LinkedFiles['incomplete'] = [];
    let budget = MAX_WALK_ENTRIES;
    for (const { entry, stats } of directories) {
      const pending: Array<{ path: string; depth: number }> = [{ path: entry.path, depth: 0 }];
      let complete = true;
      while (pending.length > 0 && complete) {
        const { path, depth } = pending.pop()!;
        const listing = await this.listDirectory(path);
        if (listing === 'unreadable') {
          complete = false;
          break;
        }
        budget -= listing.length;
        if (budget < 0) {
          complete = false;
          break;
        }
        for (const child of listing) {
          const childPath = join(path, child.name);
          if (child.isDirectory()) {
            if (depth + 1 > MAX_WALK_DEPTH) {
              complete = false;
              break;
            }
            pending.push({ path: childPath, depth: depth + 1 });
          } else if (child.isFile()) {
            const childStats = await orMissing(this.fsCall(() => lstat(childPath, BIGINT)));
            if (childStats?.isFile() && childStats.nlink >= 2n)
              files.set(identityKey(childStats), entry.what);
          }
        }
      }
      if (!complete) incomplete.push({ dev: stats.dev, what: entry.what });
    }
    return { signature, startedAtMs, walkMs: Math.max(0, this.clock() - startedAtMs), files, incomplete };
  }

  /** A directory's entries; none when it vanished meanwhile, 'unreadable' on any other error. */
  private async listDirectory(path: string): Promise<Dirent[] | 'unreadable'> {
    try {
      return await this.fsCall(() => readdir(path, { withFileTypes: true }));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return [];
      if (isFsError(error)) return 'unreadable';
      throw error;
    }
  }

  private statOrUndefined(path: string): Promise<BigIntStats | undefined> {
    return orMissing(this.fsCall(() => stat(path, BIGINT)));
  }
}

/** Device and inode as a map key. */
function identityKey(stats: BigIntStats): string {
  return `${stats.dev}:${stats.ino}`;
}

/** Same device and inode: the same file or directory, whichever name reached it. */
export function sameObject(a: BigIntStats, b: BigIntStats): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}
