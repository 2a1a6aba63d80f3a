// Configuration: agent.yml + conf.d/*.yml, validated, with ${ENV} substitution. Imports no subsystem.
export { loadConfig, ConfigErrors, type LoadedConfig, type Definition, type LoadOptions } from './loader.js';
export { ConfigError } from './errors.js';
export { AgentSettingsSchema, GROUP_NAME, RESTART_ONLY_SETTINGS, type AgentSettings } from './schema.js';
export { disabledPacksYaml, type PackInfo, PackManifestSchema, shippedPackNames } from './packs.js';
export { parseDurationMs, DurationSchema } from './duration.js';
export { describeFsError } from './bounded-read.js';
export { hideSecrets, HIDDEN, isSecretKey } from './secrets.js';
export { definitionBody, DefinitionBodyError } from './definition-body.js';
export { definitionKeyError, expressionKeyErrors } from './definition-errors.js';
export { packRoutes } from './routes.js';
