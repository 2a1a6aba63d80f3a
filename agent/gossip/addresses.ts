// Which addresses gossip uses: the one other nodes dial (advertise), the broadcast address of each
// IPv4 interface (LAN detection), and seeds written as HOST or HOST:PORT.
import { lookup } from 'node:dns/promises';
import { networkInterfaces } from 'node:os';
import type { PacketAddress } from './transport.js';

/** advertise_addr if set; bind_addr when it is specific; else the first non-loopback IPv4. */
export function advertiseAddress(bindAddr: string, advertiseAddr: string): string {
  if (advertiseAddr) return advertiseAddr;
  if (bindAddr !== '0.0.0.0') return bindAddr;
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) if (entry.family === 'IPv4' && !entry.internal) return entry.address;
  }
  return '127.0.0.1';
}

/** The directed broadcast address of every up IPv4 interface that has one (not loopback). */
export function broadcastAddresses(): string[] {
  const addresses = new Set<string>();
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) {
      if (entry.family !== 'IPv4' || entry.internal) continue;
      const ip = toNumber(entry.address);
      const mask = toNumber(entry.netmask);
      // A /32 or /31 has no broadcast address worth sending to.
      if (mask >>> 0 >= 0xfffffffe) continue;
      addresses.add(fromNumber((ip | ~mask) >>> 0));
    }
  }
  return [...addresses];
}

export class SeedError extends Error {}

/** HOST, HOST:PORT or [IPv6]:PORT, resolved to an IPv4 address. */
export async function resolveSeed(seed: string, defaultPort: number): Promise<PacketAddress> {
  const match = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(seed.trim());
  if (!match) throw new SeedError(`${seed}: expected HOST or HOST:PORT`);
  const host = match[1] ?? match[2]!;
  const port = match[3] ? Number(match[3]) : defaultPort;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new SeedError(`${seed}: bad port`);
  try {
    const { address } = await lookup(host, { family: 4 });
    return { address, port };
  } catch (error) {
    throw new SeedError(
      `${seed}: cannot resolve ${host} (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
    );
  }
}

function toNumber(address: string): number {
  return address.split('.').reduce((value, octet) => ((value << 8) | Number(octet)) >>> 0, 0);
}

function fromNumber(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join('.');
}
