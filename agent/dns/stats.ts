// What the DNS interface counts: queries by transport, answers by rcode, truncations, forwards,
// and how long answers took (p50/p99 over the latest LATENCY_SAMPLES), for GET /dns/stats and,
// later, the metrics subsystem.
import type { DnsStatsAnswer } from '../shared/api-types.js';

const LATENCY_SAMPLES = 1024;

export type DnsTransport = 'udp' | 'tcp';

export class DnsStats {
  private readonly queries = { udp: 0, tcp: 0 };
  private readonly rcodes: Record<string, number> = {};
  private truncated = 0;
  private forwarded = 0;
  private dropped = 0;
  private readonly latencies = new Float64Array(LATENCY_SAMPLES);
  private latencyCount = 0;

  query(transport: DnsTransport): void {
    this.queries[transport]++;
  }

  /** An answer went out: its rcode, whether it was cut (TC), and how long it took (µs). */
  answered(rcode: string, micros: number, truncated: boolean, forwarded: boolean): void {
    this.rcodes[rcode] = (this.rcodes[rcode] ?? 0) + 1;
    if (truncated) this.truncated++;
    if (forwarded) this.forwarded++;
    this.latencies[this.latencyCount++ % LATENCY_SAMPLES] = micros;
  }

  /** A packet got no answer: a response, a runt, or the TCP connection was gone. */
  drop(): void {
    this.dropped++;
  }

  snapshot(): Omit<DnsStatsAnswer, 'enabled' | 'port'> {
    const count = Math.min(this.latencyCount, LATENCY_SAMPLES);
    const sorted = this.latencies.slice(0, count).sort();
    const rank = (fraction: number): number =>
      count === 0 ? 0 : (sorted[Math.max(0, Math.ceil(fraction * count) - 1)] ?? 0);
    return {
      queries: { ...this.queries, total: this.queries.udp + this.queries.tcp },
      answers: { ...this.rcodes },
      truncated: this.truncated,
      forwarded: this.forwarded,
      dropped: this.dropped,
      latency_us: { p50: Math.round(rank(0.5)), p99: Math.round(rank(0.99)) },
    };
  }
}
