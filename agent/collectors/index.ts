// Collectors: plugins that read the machine and its applications, scheduled and isolated.
export type {
  CollectedData,
  CollectedValue,
  CollectorType,
  CollectorInstance,
  HostPaths,
} from './collector.js';
export { CollectorsSubsystem, hostPaths } from './subsystem.js';
export { collectorDefinitionSchema, type CollectorDefinition } from './definition.js';
export { collectorRoutes } from './routes.js';
export { COLLECTOR_TYPES } from './registry.js';
export { flattenMetrics, type Metric } from './flatten.js';
