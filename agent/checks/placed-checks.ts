// The placed checks of this node at run time (`run_on`): which members run each one now (from
// gossip's membership and this node's own groups), what their results say together (from the
// check tables gossip holds), and the combined hard changes to announce: watched every second,
// since the runners' results arrive by gossip, which raises no event. Only the first runner in
// rank announces, so handlers hear of a change once for the whole cluster.
import type {
  CheckBrief,
  CheckPlacement,
  CheckState,
  NodeCheckTable,
  PlacedRunner,
} from '../shared/api-types.js';
import type { Timers } from '../shared/timers.js';
import type { RunOn } from './placement.js';
import { combineResults, pickRunners, type PlacementCandidate } from './placement.js';

/** A member as placement reads it: gossip's view of it. */
export interface PlacementMember {
  id: string;
  name: string;
  state: string;
  groups: readonly string[];
}

/** A placed check as this module reads it. */
export interface PlacedCheck {
  name: string;
  runOn: RunOn;
}

/** How often the combined states are looked at for a change to announce. */
const WATCH_MS = 1000;

export interface PlacedChecksOptions {
  self: { id: string; name: string };
  /** This node's groups now (the detectors', ahead of what gossip has spread of them). */
  groups: () => ReadonlySet<string>;
  /** The cluster's members with their groups (undefined: this node alone). */
  members?: () => readonly PlacementMember[];
  /** Every node's check table, as gossip holds them. */
  tables: () => NodeCheckTable[];
  /** This node's own brief of the check, when it runs it. */
  localBrief: (name: string) => CheckBrief | undefined;
  /** A combined hard change this node is the one to announce. */
  announce: (name: string, change: { from: CheckState | 'pending'; to: CheckState; output: string }) => void;
  timers: Timers;
}

export class PlacedChecks {
  /** The combined hard state last seen of each placed check. */
  private readonly combinedHard = new Map<string, CheckState | 'pending'>();
  private timer?: unknown;
  private stopped = false;

  constructor(private readonly options: PlacedChecksOptions) {}

  /** Whether this node is one of the check's runners now. */
  runsHere(check: PlacedCheck): boolean {
    return this.runnersOf(check).some((runner) => runner.id === this.options.self.id);
  }

  /** The check's runners, their results and the combined state; `tables` read once by the caller. */
  view(check: PlacedCheck, tables: readonly NodeCheckTable[] = this.options.tables()): CheckPlacement {
    const { runOn } = check;
    const self = this.options.self.id;
    const runners = this.runnersOf(check).map((runner): PlacedRunner => {
      const brief =
        runner.id === self
          ? this.options.localBrief(check.name)
          : tables.find((table) => table.node_id === runner.id)?.checks.find((b) => b.name === check.name);
      return {
        node: runner.name,
        node_id: runner.id,
        ...(brief
          ? { state: brief.state, state_type: brief.state_type, output: brief.output, since: brief.since }
          : { state: 'pending', state_type: 'hard', output: '', since: 0 }),
      };
    });
    const combined = combineResults(runners, runOn.quorum);
    return {
      name: check.name,
      group: runOn.group,
      replicas: runOn.replicas,
      quorum: combined.quorum,
      runners,
      runs_here: runners.some((runner) => runner.node_id === self),
      state: combined.state,
      state_type: combined.state_type,
      output: combined.output,
    };
  }

  /** Looks at `checks()` every second from now until stop(). */
  watch(checks: () => PlacedCheck[]): void {
    if (this.stopped) return;
    const placed = checks();
    if (placed.length) {
      const tables = this.options.tables();
      for (const check of placed) this.notice(check.name, this.view(check, tables));
    }
    const names = new Set(placed.map((check) => check.name));
    for (const name of [...this.combinedHard.keys()]) if (!names.has(name)) this.combinedHard.delete(name);
    this.timer = this.options.timers.setTimeout(() => this.watch(checks), WATCH_MS, true);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.options.timers.clearTimeout(this.timer);
  }

  /** The members that run a check now: alive or suspect members of its group, by rendezvous. */
  private runnersOf({ name, runOn }: PlacedCheck): PlacementCandidate[] {
    const { self } = this.options;
    const others = (this.options.members?.() ?? []).filter(
      (member) =>
        member.id !== self.id &&
        (member.state === 'alive' || member.state === 'suspect') &&
        member.groups.includes(runOn.group),
    );
    const candidates = this.options.groups().has(runOn.group)
      ? [{ id: self.id, name: self.name }, ...others]
      : others;
    return pickRunners(name, candidates, runOn.replicas);
  }

  private notice(name: string, placement: CheckPlacement): void {
    if (placement.state === 'pending' || placement.state_type !== 'hard') return;
    const before = this.combinedHard.get(name) ?? 'pending';
    if (before === placement.state) return;
    this.combinedHard.set(name, placement.state);
    // As a check's own first OK: nothing to tell anyone. The first runner alone tells the rest.
    if (before === 'pending' && placement.state === 'ok') return;
    if (placement.runners[0]?.node_id !== this.options.self.id) return;
    this.options.announce(name, { from: before, to: placement.state, output: placement.output });
  }
}
