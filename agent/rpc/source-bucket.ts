// The unit the pending-connection limits count a remote in (pending-inbound.ts): an IPv4 address
// alone, an IPv6 address by its /64. One IPv4 address is what one machine (or one NAT) has; an
// IPv6 /64 is the smallest block a site is given, so an attacker holds all 2^64 of its addresses
// for free, and counting them one by one would give it as many slots as it likes.
import { isIPv4, isIPv6 } from 'node:net';

/** The IPv6 prefix length a remote's connections are counted under. */
export const IPV6_BUCKET_PREFIX_BITS = 64;

/**
 * The bucket of a remote address: `203.0.113.7` as it is, `2001:db8:1:2::/64` for any address in
 * that /64, the IPv4 address inside an IPv4-mapped IPv6 one (`::ffff:203.0.113.7`, what a
 * dual-stack listener reports for IPv4 peers). Anything else (not an IP address) is its own bucket.
 */
export function sourceBucket(address: string): string {
  if (isIPv4(address)) return address;
  const withoutZone = address.split('%', 1)[0] ?? address;
  if (!isIPv6(withoutZone)) return address;
  const groups = ipv6Groups(withoutZone);
  if (isIPv4Mapped(groups)) {
    const high = groups[6] ?? 0;
    const low = groups[7] ?? 0;
    return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
  }
  const prefix = groups.slice(0, IPV6_BUCKET_PREFIX_BITS / 16).map((group) => group.toString(16));
  return `${prefix.join(':')}::/${IPV6_BUCKET_PREFIX_BITS}`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a dotted IPv4 tail converted). */
function ipv6Groups(address: string): number[] {
  let text = address;
  const tailStart = text.lastIndexOf(':') + 1;
  const tail = text.slice(tailStart);
  if (isIPv4(tail)) {
    const [a = 0, b = 0, c = 0, d = 0] = tail.split('.').map(Number);
    text = `${text.slice(0, tailStart)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = text.split('::', 2);
  const parse = (part: string): number[] =>
    part === '' ? [] : part.split(':').map((group) => Number.parseInt(group, 16));
  const headGroups = parse(head);
  const restGroups = rest === undefined ? [] : parse(rest);
  const zeros = new Array<number>(8 - headGroups.length - restGroups.length).fill(0);
  return [...headGroups, ...zeros, ...restGroups];
}

function isIPv4Mapped(groups: number[]): boolean {
  return groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff;
}
