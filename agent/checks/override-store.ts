// The worst-of override (`opsbro status override critical --reason R`), kept in one small file of
// the data dir so that a restart keeps the node CRITICAL until an operator clears it: an override
// usually means "take this node out of the pool", which a reboot must not undo.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { Type } from '@sinclair/typebox';
import { messageOf } from '../shared/errors.js';
import { removeStaleTemporaries, writeFileAtomic } from '../shared/atomic-file.js';
import type { StatusOverride } from '../shared/api-types.js';
import { schemaCheck } from '../shared/schema-check.js';

/** The file in the data dir. */
export const OVERRIDE_FILE = 'status-override.json';

const StatusOverrideSchema = Type.Object({
  state: Type.Literal('critical'),
  reason: Type.String(),
  since: Type.String(),
});

export class OverrideStore {
  constructor(private readonly path: string) {}

  /**
   * The override kept, if any. A file that cannot be read or parsed is reported through `onError`
   * and read as an override: a node someone forced CRITICAL stays so until it is cleared.
   */
  load(onError: (message: string) => void): StatusOverride | undefined {
    if (!existsSync(this.path)) return undefined;
    let parsed: unknown;
    try {
      removeStaleTemporaries(this.path);
      parsed = JSON.parse(readFileSync(this.path, 'utf8'));
    } catch (error) {
      parsed = undefined;
      onError(`cannot read ${this.path} (${messageOf(error)})`);
    }
    const check = schemaCheck(StatusOverrideSchema);
    if (check(parsed)) return parsed;
    if (parsed !== undefined) onError(`${this.path}: ${check.problem()}`);
    return {
      state: 'critical',
      reason: `the override file ${this.path} is damaged: clear it with \`opsbro status clear\``,
      since: new Date(0).toISOString(),
    };
  }

  save(override: StatusOverride): void {
    writeFileAtomic(this.path, JSON.stringify(override) + '\n');
  }

  clear(): void {
    rmSync(this.path, { force: true });
  }
}
