// Names the running agent knows (its collectors, packs, detectors, members, keys, checks), for
// commands that take one: a command declares which names its argument takes, and shell completion
// asks the agent for them (`opsbro __names SOURCE`) with a short timeout.
import type { Command } from 'commander';
import type {
  CollectorStatus,
  NodeMonitoringState,
  DetectorsAnswer,
  KeysAnswer,
  MemberView,
  PackAnswer,
} from '../agent/shared/api-types.js';
import type { AgentClient } from './client.js';

export const NAME_SOURCES = ['collectors', 'packs', 'detectors', 'members', 'keys', 'checks'] as const;
export type NameSource = (typeof NAME_SOURCES)[number];

const argumentNames = new WeakMap<Command, NameSource>();

/** Declares that `command`'s argument is a name from `source` (completion offers them). */
export function takesNames(command: Command, source: NameSource): Command {
  argumentNames.set(command, source);
  return command;
}

export function namesTakenBy(command: Command): NameSource | undefined {
  return argumentNames.get(command);
}

/** The names of `source` on the agent `client` talks to; rejects when it does not answer in time. */
export async function fetchNames(
  client: AgentClient,
  source: NameSource,
  timeoutMs: number,
): Promise<string[]> {
  const get = <T>(path: string) => client.call<T>('GET', path, undefined, timeoutMs);
  switch (source) {
    case 'collectors':
      return (await get<CollectorStatus[]>('/agent/collectors')).map((collector) => collector.name);
    case 'packs':
      return (await get<PackAnswer[]>('/agent/packs')).map((pack) => pack.name);
    case 'detectors':
      return (await get<DetectorsAnswer>('/agent/detectors')).detectors.map((detector) => detector.name);
    case 'members':
      return (await get<MemberView[]>('/agent/members')).map((member) => member.name);
    case 'keys':
      return (await get<KeysAnswer>('/gossip/keys')).keys.map((key) => key.fingerprint);
    case 'checks':
      return (await get<NodeMonitoringState>('/monitoring/state')).statuses.map((status) => status.name);
  }
}
