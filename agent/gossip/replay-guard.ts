// Refuses a packet seen before. Each sender numbers its packets with a strictly increasing
// sequence (started from the clock at boot, so a restart keeps increasing); like IPsec's
// anti-replay window, the guard remembers the highest sequence per sender and which of the 64
// before it arrived. Only meaningful for authenticated packets: the sender id and sequence are
// inside the encryption.

const WINDOW = 64n;
/** Senders remembered; the least recently heard are forgotten first. */
const MAX_SENDERS = 8192;

interface Window {
  highest: number;
  /** Bit i set: sequence highest - i was seen. */
  seen: bigint;
}

export class ReplayGuard {
  private readonly windows = new Map<string, Window>();

  /** True when the packet is new (and records it); false for a replay or a packet too old to tell. */
  accept(senderId: string, sequence: number): boolean {
    const window = this.windows.get(senderId);
    if (!window) {
      this.remember(senderId, { highest: sequence, seen: 1n });
      return true;
    }
    if (sequence > window.highest) {
      const shift = BigInt(Math.min(sequence - window.highest, 64));
      window.seen = ((window.seen << shift) | 1n) & ((1n << WINDOW) - 1n);
      window.highest = sequence;
      this.remember(senderId, window);
      return true;
    }
    const age = BigInt(window.highest - sequence);
    if (age >= WINDOW) return false;
    const bit = 1n << age;
    if (window.seen & bit) return false;
    window.seen |= bit;
    return true;
  }

  private remember(senderId: string, window: Window): void {
    this.windows.delete(senderId);
    this.windows.set(senderId, window);
    if (this.windows.size > MAX_SENDERS) this.windows.delete(this.windows.keys().next().value!);
  }
}

/** The first sequence number of this process: microseconds since the epoch, so restarts go up. */
export function initialSequence(): number {
  return Date.now() * 1000;
}
