// This node's groups and the cluster's membership, as main.ts provides them (the evaluator
// imports neither detectors nor gossip).
import type { EvaluatorFunction } from './types.js';

const MEMBER_STATES = ['alive', 'suspect', 'dead', 'left'];

export const CLUSTER_FUNCTIONS: readonly EvaluatorFunction[] = [
  {
    kind: 'plain',
    name: 'is_in_group',
    signature: 'is_in_group(group)',
    doc: 'True when this node is in the group (static from agent.yml, or detected).',
    call: (args, { providers }) => providers.groups().includes(args.string(0)),
  },
  {
    kind: 'plain',
    name: 'is_in_static_group',
    signature: 'is_in_static_group(group)',
    doc: "True when the group is one of agent.yml's static groups (not a detected one).",
    call: (args, { providers }) => providers.staticGroups().includes(args.string(0)),
  },
  {
    kind: 'plain',
    name: 'gossip_count_nodes',
    signature: "gossip_count_nodes(group, state='alive')",
    doc: 'How many cluster members of the group are in the state: alive, suspect, dead or left.',
    call(args, { providers }) {
      const state = args.string(1, 'alive');
      if (!MEMBER_STATES.includes(state)) throw args.error(1, `must be one of ${MEMBER_STATES.join(', ')}`);
      return providers.countNodes(args.string(0), state);
    },
  },
];
