// What a subsystem offers the Prometheus exposition (agent/core/prometheus.ts): families of
// samples it reads from its own counters when the agent is scraped. Declared once when the agent
// is wired; `samples()` runs at each scrape.

export type MetricType = 'counter' | 'gauge';

export interface MetricSample {
  labels?: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  /** `opsbro_<subsystem>_<what>[_total]`, Prometheus' naming. */
  name: string;
  help: string;
  type: MetricType;
  labelNames?: string[];
  samples(): MetricSample[];
}
