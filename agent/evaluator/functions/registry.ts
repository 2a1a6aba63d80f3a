// Every function expressions can call, in one list. A new function is one entry in its family's
// file; a new family is one import and one line here.
import { CLUSTER_FUNCTIONS } from './cluster.js';
import { FILE_FUNCTIONS } from './files.js';
import { HASH_FUNCTIONS } from './hash.js';
import { NETWORK_FUNCTIONS } from './network.js';
import { NUMBER_FUNCTIONS } from './numbers.js';
import { PACKAGE_FUNCTIONS } from './packages.js';
import { STRING_FUNCTIONS } from './strings.js';
import { SYSTEM_FUNCTIONS } from './system.js';
import { TIME_FUNCTIONS } from './time.js';
import type { EvaluatorFunction } from './types.js';

const FAMILIES: ReadonlyArray<readonly EvaluatorFunction[]> = [
  FILE_FUNCTIONS,
  SYSTEM_FUNCTIONS,
  PACKAGE_FUNCTIONS,
  CLUSTER_FUNCTIONS,
  NETWORK_FUNCTIONS,
  HASH_FUNCTIONS,
  STRING_FUNCTIONS,
  NUMBER_FUNCTIONS,
  TIME_FUNCTIONS,
];

/** All registered functions, sorted by name. */
export const EVALUATOR_FUNCTIONS: readonly EvaluatorFunction[] = FAMILIES.flat().sort((a, b) =>
  a.name.localeCompare(b.name),
);
