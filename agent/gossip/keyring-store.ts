// The keyring on disk: <data-dir>/keyring.json (0600), so keys installed or rotated cluster-wide,
// the keyring's generation and the keys removed survive a restart, a crash or a power cut (each
// save is atomic and durable: a crash leaves the previous keyring or the new one). The file wins
// over `encryption_key` in agent.yml once it exists; a configured key it lacks is installed
// (accepted) beside the others, unless the cluster removed it.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeStaleTemporaries, writeFileAtomic } from '../shared/atomic-file.js';
import { MAX_KEY_GENERATION } from './codec.js';
import { fingerprint, Keyring, type KeyringState, parseKey } from './keyring.js';
import { messageOf } from '../shared/errors.js';

export class KeyringStore {
  readonly path: string;

  constructor(dataDir: string) {
    this.path = join(dataDir, 'keyring.json');
  }

  /** The keyring to start with, and a note for the log when the configured key was not primary. */
  load(configuredKey: string): { keyring: Keyring; note?: string } {
    removeStaleTemporaries(this.path);
    if (!existsSync(this.path)) {
      const keyring = configuredKey ? new Keyring([parseKey(configuredKey)]) : new Keyring();
      if (keyring.enabled) this.save(keyring);
      return { keyring };
    }
    let keyring: Keyring;
    try {
      keyring = Keyring.fromState(parseState(JSON.parse(readFileSync(this.path, 'utf8'))));
    } catch (error) {
      throw new Error(`${this.path}: unreadable keyring (${messageOf(error)}); fix or delete it`, {
        cause: error,
      });
    }
    if (!configuredKey) return { keyring };
    const configured = parseKey(configuredKey);
    if (keyring.removed.has(fingerprint(configured))) {
      return {
        keyring,
        note: `encryption_key from the config was removed from the cluster keyring (${this.path}): not installed again`,
      };
    }
    if (keyring.install(configured)) {
      this.save(keyring);
      return {
        keyring,
        note: `encryption_key from the config was not in ${this.path}: installed beside the others, not made primary`,
      };
    }
    return { keyring };
  }

  save(keyring: Keyring): void {
    writeFileAtomic(this.path, JSON.stringify(keyring.toState()) + '\n', 0o600);
  }
}

/** Checks the file's shape (keys are checked by parseKey when the keyring is built). */
function parseState(raw: unknown): KeyringState {
  if (typeof raw !== 'object' || raw === null) throw new Error('expected {keys, primary}');
  const { keys, primary, generation = 0, removed = {} } = raw as Record<string, unknown>;
  if (!isStringList(keys) || typeof primary !== 'string') throw new Error('expected {keys, primary}');
  if (!isCount(generation) || generation > MAX_KEY_GENERATION)
    throw new Error(`generation: expected an integer from 0 to ${MAX_KEY_GENERATION}`);
  if (typeof removed !== 'object' || removed === null || Array.isArray(removed))
    throw new Error('removed: expected {fingerprint: generation}');
  const removals: Record<string, number> = {};
  for (const [keyFingerprint, at] of Object.entries(removed)) {
    if (!isCount(at)) throw new Error(`removed.${keyFingerprint}: expected a non-negative integer`);
    removals[keyFingerprint] = at;
  }
  return { keys, primary, generation, removed: removals };
}

const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

const isStringList = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((item) => typeof item === 'string');
