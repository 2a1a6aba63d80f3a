// Which files expressions may never read, from the running configuration and the data dir: the
// evaluator applies the rule (agent/evaluator/host), the agent knows where its secrets are.
import { dirname, join, resolve } from 'node:path';
import type { LoadedConfig } from '../config/index.js';
import type { ProtectedPath } from '../evaluator/index.js';

/**
 * What expressions may never read: the data dir (keyring, local token, node id, libp2p key,
 * stores), the config dir (agent.yml and conf.d hold encryption_key and auth tokens), the key file
 * and the Vault token file (checks.vault.token_file) wherever they are, and every file the loader
 * read settings from, wherever it really is: agent.yml or a conf.d file is often a symlink that
 * config management points at /srv/... or /var/lib/..., and conf.d itself may be a linked
 * directory (both are recognised by the identity of what their names lead to at each check). Pack
 * files hold definitions, not settings, and stay readable. main gives the evaluator a function over
 * the current config, so a reload applies.
 */
export function evaluatorProtectedPaths(config: LoadedConfig, dataDirPath: string): ProtectedPath[] {
  const confD = join(config.configDir, 'conf.d');
  const paths: ProtectedPath[] = [
    { path: dataDirPath, what: "the agent's data dir" },
    { path: config.configDir, what: "the agent's config dir" },
    { path: confD, what: "the agent's conf.d dir" },
  ];
  for (const file of config.files) {
    const isSettingsFile = file === join(config.configDir, 'agent.yml') || dirname(file) === confD;
    if (isSettingsFile) paths.push({ path: file, what: `a config file the agent read (${file})` });
  }
  const keyFile = config.settings.encryption_key_file;
  if (keyFile) {
    paths.push({
      path: resolve(config.configDir, keyFile),
      what: 'the cluster key file (encryption_key_file)',
    });
  }
  const vaultTokenFile = config.settings.checks.vault?.token_file;
  if (vaultTokenFile)
    paths.push({
      path: resolve(config.configDir, vaultTokenFile),
      what: 'the Vault token file (checks.vault.token_file)',
    });
  return paths;
}
