// Repairing a store LevelDB reports as corrupt, with the agent stopped: LevelDB's repair rebuilds
// the table index (MANIFEST) from the table and log files, keeping every record whose checksum
// still holds; what it set aside is written in the LOG file of the store's directory.
import { ClassicLevel } from 'classic-level';
import { existsSync } from 'node:fs';
import { storeErrorOf } from './errors.js';

/** Repairs the LevelDB directory `location` (a store's `<data-dir>/store`) in place. */
export async function repairStore(location: string): Promise<void> {
  // LevelDB's repair creates an empty database where there is none: say so instead.
  if (!existsSync(location)) {
    throw new Error(`${location} does not exist: give the store's directory (<data-dir>/store)`);
  }
  try {
    await ClassicLevel.repair(location);
  } catch (error) {
    throw storeErrorOf('open', location, error);
  }
}
