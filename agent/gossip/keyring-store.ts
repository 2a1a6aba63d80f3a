// The keyring on disk: <data-dir>/keyring.json (0600), so keys installed or rotated cluster-wide
// survive a restart. The file wins over `encryption_key` in agent.yml once it exists; a configured
// key it lacks is installed (accepted) beside the others.
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileNoFollow } from '../datadir/index.js';
import { Keyring, type KeyringState, parseKey } from './keyring.js';
import { messageOf } from '../errors.js';

export class KeyringStore {
  readonly path: string;

  constructor(dataDir: string) {
    this.path = join(dataDir, 'keyring.json');
  }

  /** The keyring to start with, and a note for the log when the configured key was not primary. */
  load(configuredKey: string): { keyring: Keyring; note?: string } {
    if (!existsSync(this.path)) {
      const keyring = configuredKey ? new Keyring([parseKey(configuredKey)]) : new Keyring();
      if (keyring.enabled) this.save(keyring);
      return { keyring };
    }
    let state: KeyringState;
    try {
      state = JSON.parse(readFileSync(this.path, 'utf8')) as KeyringState;
      if (!Array.isArray(state.keys) || typeof state.primary !== 'string')
        throw new Error('expected {keys, primary}');
    } catch (error) {
      throw new Error(`${this.path}: unreadable keyring (${messageOf(error)}); fix or delete it`, {
        cause: error,
      });
    }
    const keyring = Keyring.fromState(state);
    if (configuredKey && keyring.install(parseKey(configuredKey))) {
      this.save(keyring);
      return {
        keyring,
        note: `encryption_key from the config was not in ${this.path}: installed beside the others, not made primary`,
      };
    }
    return { keyring };
  }

  save(keyring: Keyring): void {
    const temporary = `${this.path}.tmp-${process.pid}`;
    writeFileNoFollow(temporary, JSON.stringify(keyring.toState()) + '\n', 0o600);
    renameSync(temporary, this.path);
  }
}
