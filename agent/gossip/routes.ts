// The gossip endpoints: members, join, leave, detect, keys, stats.
import { HttpError, type Route } from '../api/index.js';
import { KeyringError } from './keyring.js';
import type { GossipSubsystem } from './subsystem.js';

/** The answer of POST /agent/detect (the CLI and tests read it). */
export interface DetectResult {
  nodes: Array<{
    name: string;
    id: string;
    address: string;
    port: number;
    datacenter: string;
    groups: string[];
  }>;
  joined: { name: string; id: string; address: string } | null;
}

export function gossipRoutes(gossip: GossipSubsystem): Route[] {
  return [
    {
      method: 'GET',
      path: '/agent/members',
      access: 'read',
      description:
        'known members (?state=alive,suspect to filter): name, address, state, incarnation, groups, version, rtt',
      handler: ({ query }) => {
        const states = query.get('state')?.split(',').filter(Boolean);
        const members = gossip.members();
        return states?.length ? members.filter((member) => states.includes(member.state)) : members;
      },
    },
    {
      method: 'POST',
      path: '/agent/join',
      access: 'admin',
      description: 'join the cluster through {"addresses": ["HOST[:PORT]", ...]}',
      handler: async ({ body }) => {
        const addresses = (body as { addresses?: unknown } | undefined)?.addresses;
        if (
          !Array.isArray(addresses) ||
          !addresses.length ||
          !addresses.every((a) => typeof a === 'string')
        ) {
          throw new HttpError(400, 'expected {"addresses": ["HOST[:PORT]", ...]}');
        }
        const { joined, errors } = await gossip.join(addresses);
        if (!joined)
          throw new HttpError(
            422,
            `no node answered at ${addresses.join(', ')}${errors.length ? ` (${errors.join('; ')})` : ''}`,
          );
        return { joined, errors };
      },
    },
    {
      method: 'POST',
      path: '/agent/leave',
      access: 'admin',
      description: 'leave the cluster gracefully (others see this node as left)',
      handler: async () => {
        await gossip.leave();
        return { left: true };
      },
    },
    {
      method: 'POST',
      path: '/agent/detect',
      access: 'admin',
      description:
        'find agents holding our key on the LAN by broadcast: {"timeout_s": 3, "auto_join": false}',
      handler: async ({ body }) => {
        const options = (body ?? {}) as { timeout_s?: unknown; auto_join?: unknown };
        const timeoutSeconds = options.timeout_s ?? 3;
        if (typeof timeoutSeconds !== 'number' || !(timeoutSeconds > 0) || timeoutSeconds > 60) {
          throw new HttpError(400, 'timeout_s: expected a number of seconds between 0 and 60');
        }
        const { nodes, joined } = await gossip.detect(timeoutSeconds * 1000, options.auto_join === true);
        const result: DetectResult = {
          nodes: nodes.map((node) => ({
            name: node.name,
            id: node.id,
            address: node.address,
            port: node.port,
            datacenter: node.datacenter,
            groups: node.groups,
          })),
          joined: joined
            ? { name: joined.name, id: joined.id, address: `${joined.address}:${joined.port}` }
            : null,
        };
        return result;
      },
    },
    {
      method: 'GET',
      path: '/gossip/keys',
      access: 'read',
      description:
        'keys (fingerprints): which is primary, which are installed here, how many alive members hold each; the keyring generation, and `behind`/`conflict` when this node cannot follow a newer one',
      handler: () => gossip.keys(),
    },
    {
      method: 'POST',
      path: '/gossip/keys',
      access: 'admin',
      description:
        'change the keyring cluster-wide: {"op": "install", "key": B64} | {"op": "use"|"remove", "fingerprint": F}',
      handler: ({ body }) => {
        const request = (body ?? {}) as { op?: unknown; key?: unknown; fingerprint?: unknown };
        const op = request.op;
        if (op !== 'install' && op !== 'use' && op !== 'remove')
          throw new HttpError(400, 'op: expected install, use or remove');
        const value = op === 'install' ? request.key : request.fingerprint;
        if (typeof value !== 'string' || !value)
          throw new HttpError(
            400,
            op === 'install' ? 'key: expected a base64 key' : 'fingerprint: expected a key fingerprint',
          );
        try {
          return { op, fingerprint: gossip.changeKeys(op, value) };
        } catch (error) {
          if (error instanceof KeyringError) throw new HttpError(422, error.message);
          throw error;
        }
      },
    },
    {
      method: 'GET',
      path: '/gossip/stats',
      access: 'read',
      description: 'packets and bytes in and out, dropped packets by reason, UDP socket errors by code',
      handler: () => gossip.dropStats() ?? {},
    },
  ];
}
