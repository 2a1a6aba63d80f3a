// The data dir: created 0700, refused when other users could tamper with it, locked to one agent,
// holding the node id.
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describeFsError } from '../config/index.js';
import { DataDirLock } from './lock.js';
import { createLocalToken } from './local-token.js';
import { loadOrCreateNodeId } from './node-id.js';

export { LOCAL_TOKEN_FILE } from './local-token.js';
export { DataDirLock, DataDirLockedError, readPid, PIDFILE_NAME } from './lock.js';

export class DataDirError extends Error {}

export interface DataDir {
  path: string;
  nodeId: string;
  /** The local admin token (<data-dir>/local-token, 0600), new at every start. */
  localToken: string;
  lock: DataDirLock;
  /** <data-dir>/api.sock */
  apiSocket: string;
  /** <data-dir>/logs/opsbro.log (daemon mode) */
  logFile: string;
}

export async function openDataDir(dataDir: string): Promise<DataDir> {
  const path = resolve(dataDir);
  try {
    mkdirSync(path, { recursive: true, mode: 0o700 });
    accessSync(path, constants.W_OK | constants.R_OK | constants.X_OK);
  } catch (error) {
    throw new DataDirError(
      `cannot use data dir ${path} (${describeFsError(error)}); choose another with --data-dir`,
    );
  }
  const unsafe = tamperRisk(path);
  if (unsafe) throw new DataDirError(`refusing data dir ${path}: ${unsafe}`);
  const lock = await DataDirLock.acquire(path);
  try {
    return {
      path,
      nodeId: loadOrCreateNodeId(path),
      localToken: createLocalToken(path),
      lock,
      apiSocket: join(path, 'api.sock'),
      logFile: join(path, 'logs', 'opsbro.log'),
    };
  } catch (error) {
    lock.release();
    throw error;
  }
}

/** Like ssh with ~/.ssh: the agent's files must not be writable by anyone else. */
function tamperRisk(path: string): string | undefined {
  const stat = statSync(path);
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid) {
    return `it belongs to uid ${stat.uid}, not to the agent's user (uid ${uid}); chown it or choose another --data-dir`;
  }
  if (stat.mode & 0o022) {
    return `other users can write to it (mode ${(stat.mode & 0o7777).toString(8)}); run chmod 700 ${path}`;
  }
  return undefined;
}
