// Checks: evaluated and Nagios-plugin checks, soft/hard states, flapping, history, worst-of status.
export { ChecksSubsystem, type ChecksOptions } from './subsystem.js';
export { SYSTEM_CHECK_TIME, type CheckTime } from './scheduler.js';
export { CheckDefinitionSchema, type CheckDefinition } from './definition.js';
export { checkRuleErrors, type CheckRuleOptions } from './rules.js';
export { checkRoutes } from './routes.js';
export { CHECK_TYPES } from './registry.js';
export { MemoryCheckHistory } from './memory-history.js';
export { LevelCheckHistory } from './level-history.js';
export { OVERRIDE_FILE } from './override-store.js';
export { REGISTRY_FILE } from './registry-store.js';
export { CHECK_SWITCHES_FILE, DISABLED_CHECKS_KEY, type SwitchNews, type SwitchStore } from './switches.js';
export type { CheckHistory } from './history.js';
export type { CheckDependencies, CheckType } from './check-type.js';
export { pluginSpawner } from './nagios/launcher.js';
export { IN_AGENT_SPAWNER } from './nagios/spawn-in-agent.js';
export type { PluginSpawner } from './nagios/plugin-process.js';
