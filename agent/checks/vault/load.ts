// The agent's Vault client from its loaded configuration (main.ts, at load and at start), or the
// config errors that stand in its way: a bad address, no token, an unreadable token_file.
import { ConfigError, type LoadedConfig } from '../../config/index.js';
import { VaultClient, type VaultClientOptions } from './client.js';
import { vaultSettings, VaultSettingsError } from './settings.js';

export function vaultClientOf(
  config: LoadedConfig,
  options: VaultClientOptions = {},
): { client?: VaultClient; errors: ConfigError[] } {
  try {
    const settings = vaultSettings(config.settings.checks.vault, config.configDir);
    return { ...(settings ? { client: new VaultClient(settings, options) } : {}), errors: [] };
  } catch (error) {
    if (!(error instanceof VaultSettingsError)) throw error;
    // Settings may come from agent.yml or any conf.d file: the config dir is where they are.
    return { errors: [new ConfigError({ file: config.configDir, key: error.key }, error.message)] };
  }
}
