// Placement of a check on the cluster (`run_on: {group, replicas, quorum}`): which members run it
// and what their results say together. Pure functions: every node that holds the definition
// computes the same runners from the same membership (rendezvous hashing: a member's arrival or
// departure moves only the checks it wins or held), and the same combined state from the runners'
// results as gossip spreads them.
import { createHash } from 'node:crypto';
import type { CheckState, CheckStateType, PlacedRunner } from '../shared/api-types.js';
import { severityOf } from './worst-of.js';

export interface RunOn {
  group: string;
  replicas: number;
  /** Results that must agree for the combined state: default a majority of `replicas`. */
  quorum: number;
}

/** A member that may run placed checks: alive or suspect (a dead or left member runs nothing). */
export interface PlacementCandidate {
  id: string;
  name: string;
}

/** A majority of K: 2 of 3, 3 of 5, 1 of 1 and 2 of 2 (two must agree when two run it). */
export const defaultQuorum = (replicas: number): number => Math.floor(replicas / 2) + 1;

/** The rendezvous score of a member for a check: the highest K scores run it. */
function score(checkName: string, memberId: string): bigint {
  return createHash('sha256').update(checkName).update('\0').update(memberId).digest().readBigUInt64BE(0);
}

/** The members that run the check, best score first (the first is the one that notifies). */
export function pickRunners<C extends PlacementCandidate>(
  checkName: string,
  candidates: readonly C[],
  replicas: number,
): C[] {
  return candidates
    .map((candidate) => ({ candidate, score: score(checkName, candidate.id) }))
    .sort((a, b) =>
      a.score === b.score ? a.candidate.id.localeCompare(b.candidate.id) : a.score > b.score ? -1 : 1,
    )
    .slice(0, replicas)
    .map(({ candidate }) => candidate);
}

export interface CombinedState {
  state: CheckState | 'pending';
  state_type: CheckStateType;
  output: string;
  /** The quorum in effect: the configured one, or all the runners when fewer than it exist. */
  quorum: number;
}

/**
 * The runners' results as one: the worst state that at least `quorum` runners report (or worse),
 * so one runner's broken network cannot make the check CRITICAL while the others see it OK. When
 * fewer runners exist than the quorum (a group of 2 for 3 replicas), all of them must agree.
 * Hard when that many of those results are hard.
 */
export function combineResults(runners: readonly PlacedRunner[], quorum: number): CombinedState {
  const needed = Math.max(1, Math.min(quorum, runners.length));
  const reported = runners
    .filter((runner): runner is PlacedRunner & { state: CheckState } => runner.state !== 'pending')
    .sort((a, b) => severityOf(b.state) - severityOf(a.state));
  if (reported.length < needed)
    return {
      state: 'pending',
      state_type: 'hard',
      output: runners.length
        ? `waiting for results: ${reported.length} of the ${needed} needed from ${names(runners)}`
        : 'no member of the group runs it',
      quorum: needed,
    };
  const state = reported[needed - 1]!.state;
  const agreeing = reported.filter((runner) => severityOf(runner.state) >= severityOf(state));
  const hard = agreeing.filter((runner) => runner.state_type === 'hard').length >= needed;
  // The words of the first runner that found this state, for whoever reads the alert.
  const voice = agreeing.find((runner) => runner.state === state) ?? agreeing[0]!;
  // A problem: the runners that see it or worse; OK: those that see OK.
  const count = state === 'ok' ? reported.filter((runner) => runner.state === 'ok').length : agreeing.length;
  return {
    state,
    state_type: hard ? 'hard' : 'soft',
    output: `${state.toUpperCase()} for ${count} of ${runners.length} runners (quorum ${needed}): ${voice.node}: ${voice.output}`,
    quorum: needed,
  };
}

const names = (runners: readonly PlacedRunner[]) => runners.map((runner) => runner.node).join(', ');
