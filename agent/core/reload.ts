// What a reload changes: the new configuration, except the restart-only settings, which keep their
// running values (so `agent info` keeps telling the truth), and the list of those that changed.
import { type AgentSettings, type LoadedConfig, RESTART_ONLY_SETTINGS } from '../config/index.js';

export interface ReloadPlan {
  /** The configuration to apply: `next`, with the running restart-only settings. */
  config: LoadedConfig;
  /** Dotted keys of restart-only settings that changed: they apply at the next start. */
  restartRequired: string[];
}

export function planReload(running: LoadedConfig, next: LoadedConfig): ReloadPlan {
  const restartRequired = changedKeys(running.settings, next.settings).filter((key) =>
    RESTART_ONLY_SETTINGS.some((prefix) => key === prefix || key.startsWith(`${prefix}.`)),
  );
  const settings: AgentSettings = {
    ...next.settings,
    ...Object.fromEntries(
      RESTART_ONLY_SETTINGS.filter((key) => !key.includes('.')).map((key) => [
        key,
        running.settings[key as keyof AgentSettings],
      ]),
    ),
    log: { ...running.settings.log, level: next.settings.log.level },
  };
  return { config: { ...next, settings }, restartRequired };
}

/** Dotted keys whose values differ between two settings objects. */
export function changedKeys(before: unknown, after: unknown, prefix = ''): string[] {
  if (isRecord(before) && isRecord(after)) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    return [...keys].flatMap((key) =>
      changedKeys(before[key], after[key], prefix ? `${prefix}.${key}` : key),
    );
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [prefix];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
