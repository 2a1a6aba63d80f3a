// What a question's name asks for, under the agent's domain (`.opsbro` by default):
//   <group>.group.<dc>.opsbro            the alive members of a group
//   <group>.group.passing.<dc>.opsbro    the same, without the members that have a CRITICAL check
//   <name>.node.<dc>.opsbro              one member
//   opsbro                               the zone itself (its SOA and NS)
// Names compare without case (RFC 4343); the question is echoed as the client spelled it, so a
// resolver's 0x20 mixed case comes back intact.

export type DnsName =
  | { kind: 'outside' }
  | { kind: 'apex' }
  | { kind: 'group'; group: string; datacenter: string; passingOnly: boolean }
  | { kind: 'node'; node: string; datacenter: string }
  /** Under the domain, but nothing this agent knows (NXDOMAIN). */
  | { kind: 'unknown' };

/**
 * Lower case for A-Z only (RFC 4343): DNS compares ASCII letters without case and every other
 * byte as it is (String.toLowerCase would make the Kelvin sign a `k`).
 */
export function asciiLowerCase(text: string): string {
  return text.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
}

/** `.opsbro`, `opsbro.` or `OpsBro` alike: lower case, no dots around. */
export function normalizedDomain(domain: string): string {
  return asciiLowerCase(domain).replace(/^\.+|\.+$/g, '');
}

export function parseName(name: string, domain: string): DnsName {
  const lower = asciiLowerCase(name).replace(/\.$/, '');
  if (lower === domain) return { kind: 'apex' };
  if (!lower.endsWith('.' + domain)) return { kind: 'outside' };
  const labels = lower.slice(0, -(domain.length + 1)).split('.');
  // A group or a node name may hold dots (`web.eu`): everything before the keyword is the name.
  const datacenter = labels[labels.length - 1]!;
  const keyword = labels[labels.length - 2];
  if (labels.length >= 3 && keyword === 'group') {
    return { kind: 'group', group: labels.slice(0, -2).join('.'), datacenter, passingOnly: false };
  }
  if (labels.length >= 4 && keyword === 'passing' && labels[labels.length - 3] === 'group') {
    return { kind: 'group', group: labels.slice(0, -3).join('.'), datacenter, passingOnly: true };
  }
  if (labels.length >= 3 && keyword === 'node') {
    return { kind: 'node', node: labels.slice(0, -2).join('.'), datacenter };
  }
  return { kind: 'unknown' };
}
