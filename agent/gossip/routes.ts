// The gossip endpoints: members, join, leave, detect, keys, stats.
import { Type } from '@sinclair/typebox';
import { bodyParser } from '../shared/body.js';
import { HttpError, type Route } from '../shared/http.js';
import { KeyringError } from './keyring.js';
import type { GossipSubsystem } from './subsystem.js';
import type { DetectResult } from '../shared/api-types.js';

const joinRequest = bodyParser(
  Type.Object(
    { addresses: Type.Array(Type.String({ minLength: 1, maxLength: 300 }), { minItems: 1, maxItems: 64 }) },
    { additionalProperties: false },
  ),
  '{"addresses": ["HOST[:PORT]", ...]}',
);

const detectRequest = bodyParser(
  Type.Object(
    {
      timeout_s: Type.Number({ exclusiveMinimum: 0, maximum: 60, default: 3 }),
      auto_join: Type.Boolean({ default: false }),
    },
    { additionalProperties: false },
  ),
  '{"timeout_s": 3, "auto_join": false} (timeout_s over 0, at most 60)',
);

const keysRequest = bodyParser(
  Type.Object(
    {
      op: Type.Union([Type.Literal('install'), Type.Literal('use'), Type.Literal('remove')]),
      key: Type.Optional(Type.String({ maxLength: 64 })),
      fingerprint: Type.Optional(Type.String({ maxLength: 64 })),
    },
    { additionalProperties: false },
  ),
  '{"op": "install", "key": B64} or {"op": "use"|"remove", "fingerprint": F}',
);

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
        const { addresses } = joinRequest.parse(body);
        const { joined, errors, unanswered } = await gossip.join(addresses);
        // Why each address did not answer (another cluster key, no key, nothing there), then the
        // addresses that did not even resolve.
        if (!joined)
          throw new HttpError(
            422,
            unanswered.length
              ? [...unanswered, ...errors].join('; ')
              : `no node answered at ${addresses.join(', ')}${errors.length ? ` (${errors.join('; ')})` : ''}`,
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
        const options = detectRequest.parse(body);
        // Members before this detection: what `gossip detect` marks as already joined.
        const live = new Set(
          gossip
            .members()
            .filter((member) => !member.self && (member.state === 'alive' || member.state === 'suspect'))
            .map((member) => member.id),
        );
        const { nodes, joined } = await gossip.detect(options.timeout_s * 1000, options.auto_join);
        const result: DetectResult = {
          nodes: nodes.map((node) => ({
            name: node.name,
            id: node.id,
            address: node.address,
            port: node.port,
            datacenter: node.datacenter,
            groups: node.groups,
            member: live.has(node.id),
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
        const request = keysRequest.parse(body);
        const { op } = request;
        const value = op === 'install' ? request.key : request.fingerprint;
        if (!value)
          throw new HttpError(
            400,
            op === 'install'
              ? 'key: expected the base64 key to install'
              : 'fingerprint: expected the fingerprint of an installed key',
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
      description:
        'packets and bytes in and out, dropped packets by reason, UDP socket errors by code, check deltas and table fetches',
      handler: () => gossip.dropStats() ?? {},
    },
  ];
}
