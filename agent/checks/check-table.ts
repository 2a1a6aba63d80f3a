// This node's check table as the cluster sees it (NodeCheckTable): one brief per active check, the
// override, and a version bumped by exactly one at every change of a state, a state type, the set
// of checks or the override, each announced as `check-table-changed` for gossip to spread.
import type { AgentEvents } from '../events/index.js';
import type { CheckBrief, NodeCheckTable, StatusOverride } from '../shared/api-types.js';

export type TableChange = AgentEvents['check-table-changed'];

/** The fields of a brief that make a change worth spreading (not the output alone: it changes at every run). */
const sameBrief = (a: CheckBrief, b: CheckBrief) => a.state === b.state && a.state_type === b.state_type;

export class CheckTable {
  private readonly briefs = new Map<string, CheckBrief>();
  private override?: StatusOverride;
  private version: number;

  /**
   * `startVersion`: the agent's start time in ms since the epoch. A restarted node's versions are
   * then above those it announced before (unless it made more than a thousand changes a second),
   * so the other nodes fetch its new table instead of keeping the old one.
   */
  constructor(
    private readonly node: { name: string; id: string },
    startVersion: number,
    private readonly announce: (change: TableChange) => void,
  ) {
    this.version = startVersion;
  }

  /**
   * Puts and removes briefs and sets the override in one change: announced (and the version
   * bumped) when a state, a state type, the set of names or the override changed.
   */
  apply(change: { put?: CheckBrief[]; remove?: string[]; override?: StatusOverride | null }): void {
    const changed: CheckBrief[] = [];
    for (const brief of change.put ?? []) {
      const held = this.briefs.get(brief.name);
      this.briefs.set(brief.name, brief);
      if (!held || !sameBrief(held, brief)) changed.push(brief);
    }
    const removed = (change.remove ?? []).filter((name) => this.briefs.delete(name));
    let overrideChanged = false;
    if (change.override !== undefined) {
      const next = change.override ?? undefined;
      overrideChanged = JSON.stringify(next) !== JSON.stringify(this.override);
      this.override = next;
    }
    if (!changed.length && !removed.length && !overrideChanged) return;
    this.version++;
    // The override in effect after this change rides on every announcement (absent: none).
    this.announce({
      version: this.version,
      changed,
      removed,
      ...(this.override ? { override: this.override } : {}),
    });
  }

  snapshot(): NodeCheckTable {
    return {
      node: this.node.name,
      node_id: this.node.id,
      version: this.version,
      checks: [...this.briefs.values()].sort((a, b) => a.name.localeCompare(b.name)),
      ...(this.override ? { override: this.override } : {}),
    };
  }
}
