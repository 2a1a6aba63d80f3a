// Who answers to which name: the cluster's members indexed by group and by name, built from the
// membership provider when a query needs it and the last build is stale. It goes stale on every
// membership or check event (the subsystem calls invalidate()), and at the latest `maxAgeMs` after
// it was built, so an answer never reflects the cluster older than that even if an event was
// missed.
import { isIP, isIPv4 } from 'node:net';
import { asciiLowerCase } from './names.js';

/** A member as DNS needs it (main maps gossip's members to this). */
export interface DnsMember {
  name: string;
  address: string;
  /** alive, suspect, dead, left: alive and suspect members answer (a suspect may refute). */
  state: string;
  groups: readonly string[];
  datacenter: string;
  /** Its checks in CRITICAL now, as gossip knows them. */
  critical: number;
}

/** One member's addresses, split by family (A and AAAA). */
export interface Addresses {
  v4: string[];
  v6: string[];
}

interface Entry {
  address: string;
  v4: boolean;
  critical: boolean;
}

const ANSWERING_STATES = new Set(['alive', 'suspect']);

export class MemberDirectory {
  private byGroup = new Map<string, Entry[]>();
  private byName = new Map<string, Entry>();
  private builtAt = Number.NEGATIVE_INFINITY;
  private stale = true;
  private builds = 0;

  constructor(
    private readonly members: () => readonly DnsMember[],
    private readonly datacenter: string,
    private readonly maxAgeMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Membership or check states changed: the next query rebuilds. */
  invalidate(): void {
    this.stale = true;
  }

  /**
   * Bumped at every rebuild: answers built from an older one are stale (answer-cache.ts), and the
   * zone's SOA serial (it grows whenever the data may have changed).
   */
  get generation(): number {
    this.refresh();
    return this.builds;
  }

  /** The group's answering members' addresses; undefined when none answers (NXDOMAIN). */
  group(name: string, passingOnly: boolean): Addresses | undefined {
    this.refresh();
    const entries = this.byGroup.get(name);
    if (!entries) return undefined;
    const kept = passingOnly ? entries.filter((entry) => !entry.critical) : entries;
    return kept.length ? split(kept) : undefined;
  }

  node(name: string): Addresses | undefined {
    this.refresh();
    const entry = this.byName.get(name);
    return entry ? split([entry]) : undefined;
  }

  private refresh(): void {
    const now = this.now();
    if (!this.stale && now - this.builtAt < this.maxAgeMs) return;
    this.stale = false;
    this.builtAt = now;
    this.builds++;
    const byGroup = new Map<string, Entry[]>();
    const byName = new Map<string, Entry>();
    for (const member of this.members()) {
      // Other datacenters' members are not ours to answer for (their names answer NXDOMAIN).
      if (!ANSWERING_STATES.has(member.state) || member.datacenter !== this.datacenter) continue;
      // Gossip carries any text as an address; only an IP literal makes an A or AAAA record.
      if (isIP(member.address) === 0) continue;
      const entry: Entry = {
        address: member.address,
        v4: isIPv4(member.address),
        critical: member.critical > 0,
      };
      byName.set(asciiLowerCase(member.name), entry);
      for (const group of member.groups) {
        const key = asciiLowerCase(group);
        const list = byGroup.get(key);
        if (list) list.push(entry);
        else byGroup.set(key, [entry]);
      }
    }
    this.byGroup = byGroup;
    this.byName = byName;
  }
}

function split(entries: readonly Entry[]): Addresses {
  const addresses: Addresses = { v4: [], v6: [] };
  for (const entry of entries) (entry.v4 ? addresses.v4 : addresses.v6).push(entry.address);
  return addresses;
}
