// The keyring on disk: generation and removals survive a restart, saves are atomic (temporary file,
// fsync, rename, fsync of the directory), leftovers of a crash are cleaned, a removed configured
// key is not installed again.
import { randomBytes } from 'node:crypto';
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../agent/shared/atomic-file.js';
import { fingerprint, Keyring } from '../../agent/gossip/keyring.js';
import { KeyringStore } from '../../agent/gossip/keyring-store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'opsbro-keyring-'));
  dirs.push(dir);
  return dir;
}
const newKey = () => randomBytes(32);

describe('writeFileAtomic', () => {
  it('replaces the file whole, 0600, and leaves no temporary file', () => {
    const dir = dataDir();
    const path = join(dir, 'state.json');
    writeFileAtomic(path, 'one\n');
    writeFileAtomic(path, 'two\n');
    expect(readFileSync(path, 'utf8')).toBe('two\n');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['state.json']);
  });

  it('replaces a symlink planted at the path instead of writing through it', () => {
    const dir = dataDir();
    const target = join(dir, 'elsewhere');
    writeFileSync(target, 'untouched\n');
    symlinkSync(target, join(dir, 'state.json'));
    writeFileAtomic(join(dir, 'state.json'), 'mine\n');
    expect(readFileSync(target, 'utf8')).toBe('untouched\n');
    expect(readFileSync(join(dir, 'state.json'), 'utf8')).toBe('mine\n');
  });
});

describe('keyring store', () => {
  it('keeps the generation and the removed keys across a restart', () => {
    const dir = dataDir();
    const [first, second] = [newKey(), newKey()];
    const store = new KeyringStore(dir);
    const { keyring } = store.load(first.toString('base64'));
    keyring.install(second);
    keyring.use(fingerprint(second));
    keyring.generation = 7;
    keyring.remove(fingerprint(first), 7);
    store.save(keyring);

    const reloaded = new KeyringStore(dir).load('').keyring;
    expect(reloaded.version()).toEqual({
      generation: 7,
      primary: fingerprint(second),
      keys: [fingerprint(second)],
    });
    expect([...reloaded.removed]).toEqual([[fingerprint(first), 7]]);
  });

  it('does not install again a configured key the cluster removed, and says so', () => {
    const dir = dataDir();
    const [first, second] = [newKey(), newKey()];
    const store = new KeyringStore(dir);
    const { keyring } = store.load(first.toString('base64'));
    keyring.install(second);
    keyring.use(fingerprint(second));
    keyring.remove(fingerprint(first), 3);
    store.save(keyring);
    const loaded = new KeyringStore(dir).load(first.toString('base64'));
    expect(loaded.keyring.fingerprints()).toEqual([fingerprint(second)]);
    expect(loaded.note).toMatch(/was removed from the cluster keyring/);
  });

  it('reads a keyring file from before generations as generation 0', () => {
    const dir = dataDir();
    const key = newKey().toString('base64');
    writeFileSync(join(dir, 'keyring.json'), JSON.stringify({ keys: [key], primary: key }));
    expect(new KeyringStore(dir).load('').keyring.generation).toBe(0);
  });

  it('removes temporary files a crash left, and refuses a malformed generation, or one above the cap, with the path', () => {
    const dir = dataDir();
    const key = newKey().toString('base64');
    writeFileSync(join(dir, 'keyring.json'), JSON.stringify({ keys: [key], primary: key, generation: 2 }));
    writeFileSync(join(dir, 'keyring.json.tmp-123-abcd'), '{"half": ');
    new KeyringStore(dir).load('');
    expect(readdirSync(dir)).toEqual(['keyring.json']);
    writeFileSync(join(dir, 'keyring.json'), JSON.stringify({ keys: [key], primary: key, generation: -1 }));
    expect(() => new KeyringStore(dir).load('')).toThrow(
      `${join(dir, 'keyring.json')}: unreadable keyring (generation: expected an integer from 0 to 2147483647)`,
    );
    // Above the cap, its records would be refused by every node.
    writeFileSync(
      join(dir, 'keyring.json'),
      JSON.stringify({ keys: [key], primary: key, generation: 2 ** 31 }),
    );
    expect(() => new KeyringStore(dir).load('')).toThrow(
      /generation: expected an integer from 0 to 2147483647/,
    );
  });
});

describe('keyring', () => {
  it('remembers removals (the newest) and forgets one when a key is installed again', () => {
    const keys = Array.from({ length: 3 }, newKey);
    const keyring = new Keyring(keys);
    keyring.remove(fingerprint(keys[1]!), 4);
    expect(keyring.removed.get(fingerprint(keys[1]!))).toBe(4);
    keyring.install(keys[1]!);
    expect(keyring.removed.has(fingerprint(keys[1]!))).toBe(false);
  });

  it('holds at most 32 keys', () => {
    const keyring = new Keyring([newKey()]);
    for (let index = 1; index < 32; index++) keyring.install(newKey());
    expect(() => keyring.install(newKey())).toThrow('the keyring is full (32 keys)');
  });
});
