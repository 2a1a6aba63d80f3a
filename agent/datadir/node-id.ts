// The node id: a UUID created on the first start and kept in the data dir for the node's lifetime.
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../shared/atomic-file.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function loadOrCreateNodeId(dataDir: string): string {
  const path = join(dataDir, 'node-id');
  if (existsSync(path)) {
    const id = readFileSync(path, 'utf8').trim();
    // A changed id would make the cluster see a new node; refuse rather than silently replace it.
    if (!UUID.test(id))
      throw new Error(
        `${path}: expected a UUID, got ${JSON.stringify(id.slice(0, 40))}; fix or delete the file`,
      );
    return id;
  }
  const id = randomUUID();
  writeFileAtomic(path, `${id}\n`, 0o644);
  return id;
}
