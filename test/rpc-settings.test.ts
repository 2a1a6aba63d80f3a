// The `rpc:` settings of agent.yml that bound inbound cluster RPC handshakes: their defaults are
// the RPC's own, and values outside their range are refused at load, with the key named.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigErrors, loadConfig } from '../agent/config/index.js';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_MAX_PENDING_PER_ADDRESS } from '../agent/rpc/index.js';
import { cleanupAll, tempDir } from './helpers/agent-process.js';

afterEach(cleanupAll);

function configDir(agentYml: string): string {
  const dir = tempDir();
  mkdirSync(join(dir, 'conf.d'));
  writeFileSync(join(dir, 'agent.yml'), agentYml);
  return dir;
}

describe('rpc settings', () => {
  it('default to the RPC defaults, and take other values', () => {
    expect(loadConfig({ configDir: configDir(''), packDirs: [] }).settings.rpc).toEqual({
      port: 6767,
      handshake_timeout_ms: DEFAULT_HANDSHAKE_TIMEOUT_MS,
      max_pending_per_address: DEFAULT_MAX_PENDING_PER_ADDRESS,
    });
    const yml = 'rpc:\n  handshake_timeout_ms: 3000\n  max_pending_per_address: 4\n';
    expect(loadConfig({ configDir: configDir(yml), packDirs: [] }).settings.rpc).toMatchObject({
      handshake_timeout_ms: 3000,
      max_pending_per_address: 4,
    });
  });

  it('refuses a handshake deadline under 100 ms and a per-address limit of 0', () => {
    for (const [yml, key] of [
      ['rpc:\n  handshake_timeout_ms: 50\n', 'handshake_timeout_ms'],
      ['rpc:\n  max_pending_per_address: 0\n', 'max_pending_per_address'],
    ] as const) {
      let errors: string[] = [];
      try {
        loadConfig({ configDir: configDir(yml), packDirs: [] });
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigErrors);
        errors = (error as ConfigErrors).errors.map((each) => each.message);
      }
      expect(errors.join('\n')).toContain(key);
    }
  });
});
