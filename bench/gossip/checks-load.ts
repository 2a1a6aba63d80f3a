// A check load for the gossip bench (issue 12's budget: 50 nodes x 200 checks add at most 20% to
// gossip bytes/s per agent). With BENCH_CHECKS=N every opsbro agent runs N evaluated checks that
// change state at a steady low rate: each check is CRITICAL for two of its intervals once per
// period and OK the rest of the time, the checks of all agents out of step, so the cluster sees
// changes evenly spread in time (two per check and period: one to CRITICAL, one back to OK).
//
//   BENCH_CHECKS=200                   checks per agent (0 or unset: no checks, the plain bench)
//   BENCH_CHECK_CHANGES_PER_MIN=0.1    state changes per agent and minute, all checks together: 5 a
//                                      minute in a 50-node cluster, each check changing about once
//                                      in 33 hours (a steady state; docs/gossip.md gives the cost
//                                      of one change, to weigh other rates)
//   BENCH_CHECK_INTERVAL_S=30          each check's interval (evaluations: N / interval per second)
//
// So few changes make a short idle window a noisy sample: BENCH_IDLE_SECONDS=300 sees about 25 of
// them at N=50.//
// The checks use `now()` only (the bench's agents run no pack, so no collector), with
// max_attempts: 1 so that each change is one hard change (one delta). At start every check goes
// from pending to its first state within its interval: a burst of deltas and table fetches. Give
// BENCH_SETTLE_SECONDS more than the interval, so that the idle window measures the steady state.

import { positiveEnv } from '../lib/env.js';

export interface ChecksLoad {
  perAgent: number;
  changesPerMinute: number;
  intervalS: number;
  /** Seconds between a check's two visits to CRITICAL. */
  periodS: number;
  /** Seconds a check stays CRITICAL each period. */
  holdS: number;
}

/** The load the environment asks for; undefined without BENCH_CHECKS. */
export function checksLoadFromEnv(): ChecksLoad | undefined {
  const raw = process.env.BENCH_CHECKS;
  if (raw === undefined || raw === '' || raw === '0') return undefined;
  const perAgent = positiveEnv('BENCH_CHECKS', 0, true);
  const changesPerMinute = positiveEnv('BENCH_CHECK_CHANGES_PER_MIN', 0.1);
  const intervalS = positiveEnv('BENCH_CHECK_INTERVAL_S', 30, true);
  // Two changes per check and period: perAgent * 2 / periodS changes a second.
  const periodS = Math.round((perAgent * 2 * 60) / changesPerMinute);
  const holdS = 2 * intervalS;
  if (periodS <= 2 * holdS)
    throw new Error(
      `BENCH_CHECK_CHANGES_PER_MIN=${changesPerMinute} is too high for ${perAgent} checks at ${intervalS} s: ` +
        `a check would change every ${periodS / 2} s, under two intervals`,
    );
  return { perAgent, changesPerMinute, intervalS, periodS, holdS };
}

/**
 * conf.d YAML for agent `agentIndex` (1-based) of `agents`: its checks, each offset so that the
 * transitions of every check of every agent are spread evenly over the period.
 */
export function checkDefinitionsYaml(load: ChecksLoad, agentIndex: number, agents: number): string {
  const lines: string[] = [];
  const slots = load.perAgent * agents;
  for (let check = 0; check < load.perAgent; check++) {
    const slot = check * agents + (agentIndex - 1);
    const offsetS = Math.floor((slot * load.periodS) / slots);
    lines.push(
      '- check:',
      `    name: bench-${check}`,
      `    interval: ${load.intervalS}s`,
      '    max_attempts: 1',
      `    critical_if: "(now() + ${offsetS}) % ${load.periodS} < ${load.holdS}"`,
    );
  }
  return lines.join('\n') + '\n';
}
