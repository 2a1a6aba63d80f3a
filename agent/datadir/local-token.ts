// The local admin token: <data-dir>/local-token (0600), made anew at every start. Whoever can read
// it is the agent's user (or root), so the CLI may use it to reach the admin routes over TCP with
// no setup; a local user who cannot read it gets the read-only routes only. A new one each start:
// a token that ever went astray (a script that logged it) is worth nothing after a restart.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { removeStaleTemporaries, writeFileAtomic } from '../shared/atomic-file.js';

export const LOCAL_TOKEN_FILE = 'local-token';

export function createLocalToken(dataDir: string): string {
  const path = join(dataDir, LOCAL_TOKEN_FILE);
  removeStaleTemporaries(path);
  const token = randomBytes(32).toString('base64url');
  writeFileAtomic(path, `${token}\n`, 0o600);
  return token;
}
