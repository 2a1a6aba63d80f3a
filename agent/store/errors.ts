// What went wrong with the store, in words an operator can act on. LevelDB's errors arrive as codes
// (LEVEL_LOCKED, LEVEL_CORRUPTION, LEVEL_IO_ERROR, LEVEL_DATABASE_NOT_OPEN with the real one as its
// cause) and an errno text; they are sorted here into the few problems that need different actions.
import { fileURLToPath } from 'node:url';
import { messageOf } from '../shared/errors.js';

export type StoreProblem =
  /** Another process holds LevelDB's lock on the store. */
  | 'locked'
  /** A checksum or a file LevelDB needs does not read back as written. */
  | 'corrupt'
  /** ENOSPC: the filesystem of the data dir is full. */
  | 'disk-full'
  /** EACCES/EPERM: the agent's user may not use the files. */
  | 'permission'
  /** close() was called: the agent is stopping. */
  | 'closed'
  /** Any other I/O error. */
  | 'io';

export type StoreOperation = 'open' | 'read' | 'write';

export class StoreError extends Error {
  constructor(
    readonly operation: StoreOperation,
    readonly problem: StoreProblem,
    /** The store's directory. */
    readonly location: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreError';
  }
}

/** The command that repairs the store in place (agent stopped), as an operator can paste it. */
export function repairCommand(location: string): string {
  const script = fileURLToPath(new URL('./repair-main.js', import.meta.url));
  return `node ${shellWord(script)} ${shellWord(location)}`;
}

/** `path` as one word of a shell command line an operator pastes. */
function shellWord(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`;
}

/** `error` (from classic-level) as a StoreError saying what to do. */
export function storeErrorOf(operation: StoreOperation, location: string, error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  const { problem, detail } = classify(error);
  return new StoreError(operation, problem, location, sentence(operation, problem, location, detail), {
    cause: error,
  });
}

function classify(error: unknown): { problem: StoreProblem; detail: string } {
  const code = codeOf(error);
  // A failed open is reported as "not open", with what really happened as its cause.
  const cause = error instanceof Error ? error.cause : undefined;
  if (code === 'LEVEL_DATABASE_NOT_OPEN' && cause !== undefined) return classify(cause);
  const detail = messageOf(error);
  if (code === 'LEVEL_DATABASE_NOT_OPEN' || code === 'LEVEL_DATABASE_NOT_CLOSED')
    return { problem: 'closed', detail };
  if (code === 'LEVEL_LOCKED') return { problem: 'locked', detail };
  if (code === 'LEVEL_CORRUPTION') return { problem: 'corrupt', detail };
  if (/No space left on device|ENOSPC|Disk quota exceeded/i.test(detail))
    return { problem: 'disk-full', detail };
  if (/Permission denied|EACCES|EPERM|Operation not permitted/i.test(detail)) {
    return { problem: 'permission', detail };
  }
  return { problem: 'io', detail };
}

function codeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

function sentence(
  operation: StoreOperation,
  problem: StoreProblem,
  location: string,
  detail: string,
): string {
  const what =
    operation === 'open' ? `cannot open the store ${location}` : `cannot ${operation} the store ${location}`;
  switch (problem) {
    case 'locked':
      return (
        `${what}: it is locked by another process (another opsbro agent on this data dir, or a tool ` +
        `reading the store); stop that process, or give this agent its own --data-dir`
      );
    case 'corrupt':
      return (
        `${what}: it is corrupt (${detail}). With the agent stopped, repair it: ${repairCommand(location)} ` +
        `(keeps every record LevelDB can still read), or move it aside to start empty: ` +
        `mv ${shellWord(location)} ${shellWord(`${location}.corrupt`)} (this node's check history, KV and metrics start over)`
      );
    case 'disk-full':
      return operation === 'open'
        ? `${what}: the disk is full (${detail}); free space on that filesystem and start the agent again`
        : `${what}: the disk is full (${detail}); the agent keeps running without keeping this, and ` +
            `writes resume by themselves once space is freed on that filesystem`;
    case 'permission':
      return `${what}: permission denied (${detail}); the data dir and everything in it must belong to the user the agent runs as`;
    case 'closed':
      return `${what}: the store is closed (the agent is stopping)`;
    case 'io':
      return `${what}: ${detail}`;
  }
}
