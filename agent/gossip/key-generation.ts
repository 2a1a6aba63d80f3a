// Keyring generations: how every node ends up with the same keyring after any crash in the middle
// of a rotation (docs/gossip.md, "Keys and rotation"). Each keyring change made in the cluster
// (install, use, remove) gets a generation one above the highest its node has seen, and every
// node's record announces its keyring version: generation, primary and installed keys. A node
// moves to the newest version it can take (it holds, or is offered, every key of it); a version
// that still holds a key this node removed at that generation or later lost to the removal. The
// rules are pure functions here; keyring-sync.ts applies them.
import type { KeyringVersion } from './codec.js';

export type { KeyringVersion } from './codec.js';

/**
 * Orders versions: the higher generation, then the higher primary fingerprint (a tiebreak every
 * node computes alike, for two changes made at the same generation on two nodes).
 */
export function compareVersions(a: KeyringVersion, b: KeyringVersion): number {
  if (a.generation !== b.generation) return a.generation - b.generation;
  return a.primary < b.primary ? -1 : a.primary > b.primary ? 1 : 0;
}

/** The keys of `version` that this node removed at `version`'s generation or later. */
export function removedKeysOf(version: KeyringVersion, removed: ReadonlyMap<string, number>): string[] {
  return version.keys.filter((key) => (removed.get(key) ?? -1) >= version.generation);
}

/** A version heard from a member (its record, a key op or an offer), and who announced it. */
export interface Candidate {
  version: KeyringVersion;
  from: string;
}

export type Decision =
  /** Take `candidate`: install its keys this node lacks (from offered material), remove the others. */
  | { kind: 'adopt'; candidate: Candidate; install: string[]; remove: string[] }
  /** A newer version needs keys this node neither holds nor was offered: keep the current one. */
  | { kind: 'wait'; candidate: Candidate; missing: string[] }
  /**
   * A version at least as new still holds a key removed here, and its node holds this node's
   * primary: announce this keyring at `generation` (above it), which that node then adopts.
   */
  | { kind: 'outvote'; generation: number; over: Candidate; removed: string[] }
  /** Like outvote, but that node lacks this node's primary: nothing to do but say so. */
  | { kind: 'conflict'; candidate: Candidate; removed: string[] }
  | { kind: 'current' };

/**
 * What this node should do about the versions it hears. `local`: its keyring's version;
 * `removed`: its removals; `available`: fingerprints it holds or was just offered.
 */
export function decide(
  local: KeyringVersion,
  removed: ReadonlyMap<string, number>,
  available: ReadonlySet<string>,
  candidates: Candidate[],
): Decision {
  let best: Candidate | undefined;
  let outvote: { over: Candidate; removed: string[] } | undefined;
  let conflict: { candidate: Candidate; removed: string[] } | undefined;
  const missingOf = (candidate: Candidate) =>
    [...new Set([candidate.version.primary, ...candidate.version.keys])].filter((key) => !available.has(key));
  for (const candidate of candidates) {
    // A node without keys (an open cluster) is nothing to follow.
    if (!candidate.version.primary) continue;
    const order = compareVersions(candidate.version, local);
    if (order < 0) continue;
    const gone = removedKeysOf(candidate.version, removed);
    if (gone.length) {
      if (candidate.version.keys.includes(local.primary)) {
        if (!outvote || candidate.version.generation > outvote.over.version.generation)
          outvote = { over: candidate, removed: gone };
      } else if (order > 0) conflict ??= { candidate, removed: gone };
      continue;
    }
    if (order === 0) continue;
    const versus = best ? compareVersions(candidate.version, best.version) : 1;
    // Between two announcers of one version, prefer the one whose keys this node has.
    if (versus > 0 || (versus === 0 && missingOf(candidate).length < missingOf(best!).length))
      best = candidate;
  }
  if (best) {
    const missing = missingOf(best);
    if (missing.length) return { kind: 'wait', candidate: best, missing };
    return {
      kind: 'adopt',
      candidate: best,
      install: best.version.keys.filter((key) => !local.keys.includes(key)),
      remove: local.keys.filter((key) => !best.version.keys.includes(key)),
    };
  }
  if (outvote) {
    return {
      kind: 'outvote',
      generation: outvote.over.version.generation + 1,
      over: outvote.over,
      removed: outvote.removed,
    };
  }
  if (conflict) return { kind: 'conflict', ...conflict };
  return { kind: 'current' };
}

/** A member behind this node: what to offer it, sealed with which of its keys. */
export interface Offer {
  memberId: string;
  /** Fingerprints of the keys it lacks to adopt this node's version (may be none). */
  keys: string[];
  sealWith: string;
}

/**
 * The members whose records announce an older version than `local`: each gets this node's version
 * and the keys it lacks, sealed with its primary (or another key both hold). Members this node
 * cannot reach (no key in common) are left out: nobody can help them but an operator.
 */
export function offersFor(
  local: KeyringVersion,
  members: Array<{ id: string; version: KeyringVersion }>,
): Offer[] {
  const offers: Offer[] = [];
  for (const member of members) {
    if (compareVersions(local, member.version) <= 0) continue;
    const sealWith = local.keys.includes(member.version.primary)
      ? member.version.primary
      : member.version.keys.find((key) => local.keys.includes(key));
    if (!sealWith) continue;
    offers.push({
      memberId: member.id,
      keys: local.keys.filter((key) => !member.version.keys.includes(key)),
      sealWith,
    });
  }
  return offers;
}
