// GET /metrics: the agent's own counters in Prometheus' text exposition format (0.0.4), so a
// Prometheus server can scrape every agent. prom-client writes the format; each subsystem's
// families (agent/shared/exposition.ts) are read at scrape time through collect callbacks, beside
// prom-client's process and Node.js metrics (CPU seconds, resident memory, event loop lag, heap).
import type { Registry } from 'prom-client';
import type { MetricFamily } from '../shared/exposition.js';
import { HttpReply, type Route } from '../shared/http.js';

/**
 * The route that serves `families` and the process metrics. prom-client (with OpenTelemetry's API
 * and its own timers: ~90 modules, an event-loop-delay histogram and GC observers from the start)
 * is loaded at the first scrape: most agents are never scraped, and an idle agent is paid for on
 * every machine. The process metrics count from that first scrape (Prometheus takes rates).
 */
export function prometheusRoute(families: MetricFamily[]): Route {
  let registry: Promise<Registry> | undefined;
  return {
    method: 'GET',
    path: '/metrics',
    access: 'read',
    description:
      "the agent's own counters in Prometheus' text format (gossip, API, collectors, checks, DNS, metrics, process)",
    handler: async () => {
      registry ??= registryOf(families).catch((error: unknown) => {
        registry = undefined; // the next scrape tries again
        throw error;
      });
      const ready = await registry;
      return new HttpReply(200, Buffer.from(await ready.metrics()), {}, ready.contentType);
    },
  };
}

/**
 * How often the event loop's delay is sampled for nodejs_eventloop_lag_* (a timer of its own).
 * prom-client's default, 10 ms, wakes the process 100 times a second: 4.6 ms of CPU a second,
 * more than the whole idle agent (docs/benchmarks.md). Once a second, a stall shorter than that
 * may fall between two samples; nodejs_eventloop_lag_seconds still measures one at each scrape.
 */
const EVENT_LOOP_SAMPLE_MS = 1000;

/** A registry with the process metrics and `families`. */
async function registryOf(families: MetricFamily[]): Promise<Registry> {
  const { collectDefaultMetrics, Counter, Gauge, Registry } = await import('prom-client');
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  for (const family of families) {
    const options = {
      name: family.name,
      help: family.help,
      labelNames: family.labelNames ?? [],
      registers: [registry],
    };
    // The subsystem keeps the running value; the metric only shows it, set anew at each scrape.
    if (family.type === 'gauge')
      new Gauge({
        ...options,
        collect() {
          this.reset();
          for (const sample of family.samples()) this.set(sample.labels ?? {}, sample.value);
        },
      });
    else
      new Counter({
        ...options,
        collect() {
          this.reset();
          for (const sample of family.samples()) this.inc(sample.labels ?? {}, sample.value);
        },
      });
  }
  return registry;
}
