// The data dir: created with restrictive permissions, locked to one agent, holding the node id.
import { accessSync, constants, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describeFsError } from '../config/index.js';
import { DataDirLock } from './lock.js';
import { loadOrCreateNodeId } from './node-id.js';

export { DataDirLock, DataDirLockedError, readPid, PIDFILE_NAME } from './lock.js';

export class DataDirError extends Error {}

export interface DataDir {
  path: string;
  nodeId: string;
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
  const lock = await DataDirLock.acquire(path);
  try {
    return {
      path,
      nodeId: loadOrCreateNodeId(path),
      lock,
      apiSocket: join(path, 'api.sock'),
      logFile: join(path, 'logs', 'opsbro.log'),
    };
  } catch (error) {
    lock.release();
    throw error;
  }
}
