// The keyring-generation rules alone: which version a node adopts, waits for, outvotes, or offers.
import { describe, expect, it } from 'vitest';
import {
  type Candidate,
  compareVersions,
  decide,
  type KeyringVersion,
  offersFor,
  removedKeysOf,
} from '../../agent/gossip/key-generation.js';

const version = (generation: number, primary: string, keys: string[] = [primary]): KeyringVersion => ({
  generation,
  primary,
  keys,
});
const from = (name: string, v: KeyringVersion): Candidate => ({ version: v, from: name });
const none = new Map<string, number>();

describe('keyring versions', () => {
  it('order by generation, then by primary fingerprint', () => {
    expect(compareVersions(version(2, 'a'), version(1, 'z'))).toBeGreaterThan(0);
    expect(compareVersions(version(2, 'b'), version(2, 'a'))).toBeGreaterThan(0);
    expect(compareVersions(version(2, 'a', ['a', 'x']), version(2, 'a'))).toBe(0);
  });

  it('a version lost to a removal when it holds a key removed at its generation or later', () => {
    const removed = new Map([['old', 5]]);
    expect(removedKeysOf(version(5, 'new', ['new', 'old']), removed)).toEqual(['old']);
    expect(removedKeysOf(version(4, 'old'), removed)).toEqual(['old']);
    // Installed again after the removal (a later generation): not lost.
    expect(removedKeysOf(version(6, 'new', ['new', 'old']), removed)).toEqual([]);
  });
});

describe('decide', () => {
  const local = version(3, 'old', ['old', 'new']);
  const held = new Set(local.keys);

  it('adopts the newest version whose keys it holds: new primary, keys it lacks removed', () => {
    const decision = decide(local, none, held, [
      from('n2', version(4, 'new', ['old', 'new'])),
      from('n3', version(5, 'new', ['new'])),
      from('n4', version(2, 'old', ['old'])),
    ]);
    expect(decision).toMatchObject({
      kind: 'adopt',
      candidate: { from: 'n3' },
      install: [],
      remove: ['old'],
    });
  });

  it('stays current with versions no newer than its own', () => {
    expect(decide(local, none, held, [from('n2', version(3, 'old', ['old', 'new']))])).toEqual({
      kind: 'current',
    });
    expect(decide(local, none, held, [from('n2', version(1, 'x'))])).toEqual({ kind: 'current' });
  });

  it('waits, keeping its keyring, when a newer version needs a key it neither holds nor was offered', () => {
    const newer = version(4, 'other', ['old', 'other']);
    expect(decide(local, none, held, [from('n2', newer)])).toEqual({
      kind: 'wait',
      candidate: from('n2', newer),
      missing: ['other'],
    });
    // Offered: it installs the key and adopts.
    expect(decide(local, none, new Set([...held, 'other']), [from('n2', newer)])).toMatchObject({
      kind: 'adopt',
      install: ['other'],
      remove: ['new'],
    });
  });

  it('never switches to a primary it removed: outvotes that version when its node holds our primary', () => {
    // This node moved to `new` and removed `old` at generation 5; a node that crashed before
    // hearing of it comes back announcing generation 5 with `old` as primary (a tie it would win).
    const here = version(5, 'new', ['new']);
    const removed = new Map([['old', 5]]);
    const stale = version(5, 'old', ['old', 'new']);
    expect(compareVersions(stale, here)).toBeGreaterThan(0);
    expect(decide(here, removed, new Set(['new', 'old']), [from('n2', stale)])).toEqual({
      kind: 'outvote',
      generation: 6,
      over: from('n2', stale),
      removed: ['old'],
    });
    // The stale node, on hearing generation 6, adopts it and removes `old`.
    expect(
      decide(stale, none, new Set(['old', 'new']), [from('n1', version(6, 'new', ['new']))]),
    ).toMatchObject({
      kind: 'adopt',
      remove: ['old'],
    });
  });

  it("reports a conflict when the stale version's node lacks our primary", () => {
    const here = version(5, 'new', ['new']);
    const stale = version(6, 'old', ['old']);
    expect(decide(here, new Map([['old', 6]]), new Set(['new']), [from('n2', stale)])).toEqual({
      kind: 'conflict',
      candidate: from('n2', stale),
      removed: ['old'],
    });
  });

  it('follows nobody without a key (an open node)', () => {
    expect(decide(local, none, held, [from('open', version(9, '', []))])).toEqual({ kind: 'current' });
  });
});

describe('offers', () => {
  it('go to members behind, with the keys they lack, sealed with a key they hold', () => {
    const local = version(4, 'new', ['old', 'new']);
    expect(
      offersFor(local, [
        { id: 'behind-without-key', version: version(3, 'old', ['old']) },
        { id: 'behind-with-keys', version: version(3, 'old', ['old', 'new']) },
        { id: 'current', version: version(4, 'new', ['old', 'new']) },
        { id: 'ahead', version: version(5, 'new', ['new']) },
        { id: 'unreachable', version: version(1, 'gone', ['gone']) },
      ]),
    ).toEqual([
      { memberId: 'behind-without-key', keys: ['new'], sealWith: 'old' },
      { memberId: 'behind-with-keys', keys: [], sealWith: 'old' },
    ]);
  });
});
