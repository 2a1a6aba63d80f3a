// The local admin token: <data-dir>/local-token (0600), made at the first start and kept. Whoever
// can read it is the agent's user (or root), so the CLI may use it to reach the admin routes over
// TCP with no setup; a local user who cannot read it gets the read-only routes only.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileNoFollow } from './lock.js';

export const LOCAL_TOKEN_FILE = 'local-token';
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

export function loadOrCreateLocalToken(dataDir: string): string {
  const path = join(dataDir, LOCAL_TOKEN_FILE);
  if (existsSync(path)) {
    const mode = statSync(path).mode & 0o777;
    // Readable by others, the token would give them the agent: make a new one instead.
    if ((mode & 0o077) === 0) {
      const token = readFileSync(path, 'utf8').trim();
      if (TOKEN.test(token)) return token;
    }
  }
  const token = randomBytes(32).toString('base64url');
  const temporary = `${path}.tmp-${process.pid}`;
  writeFileNoFollow(temporary, `${token}\n`, 0o600);
  renameSync(temporary, path);
  return token;
}
