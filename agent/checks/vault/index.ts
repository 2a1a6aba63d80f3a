// Values of checks from HashiCorp Vault (docs/checks-vault.md): the settings, the client the agent
// gives its checks (CheckDependencies.vault), and the runner that reads and hides the values.
export { VaultClient, VaultError, type VaultClientOptions } from './client.js';
export {
  vaultSettings,
  VaultSettingsError,
  type VaultSettings,
  type VaultSettingsInput,
} from './settings.js';
export { VAULT_STAND_IN, vaultValues, withVaultSecrets, withVaultStandIns } from './secrets.js';
export { vaultClientOf } from './load.js';
