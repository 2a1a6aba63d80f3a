// Detectors: rules that put this node in groups.
export { DetectorsSubsystem } from './subsystem.js';
export { DetectorDefinitionSchema, type DetectorDefinition } from './definition.js';
export { detectorRoutes } from './routes.js';
export { detectorRuleErrors } from './rules.js';
