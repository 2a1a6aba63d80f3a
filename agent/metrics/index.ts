// The metrics subsystem: statsd and graphite listeners, the time-series store, the render API.
export {
  MetricsSubsystem,
  metricNode,
  type MetricsStats,
  type MetricsSubsystemOptions,
} from './subsystem.js';
