// The one storage module (DESIGN.md): a LevelDB database in <data-dir>/store whose namespaces
// the check history, KV and metrics share. It imports nothing of the agent but shared/.
export { type KeyRange, type Namespace, type Store, type WriteOp, type WriteOptions } from './store.js';
export { openStore, STORE_DIR_NAME, type StoreOptions } from './level-store.js';
export { StoreError, type StoreOperation, type StoreProblem, repairCommand } from './errors.js';
export { repairStore } from './repair.js';
export {
  keyOf,
  parseSortableNumber,
  partsOf,
  prefixOf,
  prefixRange,
  SEQUENCE_DIGITS,
  sortableNumber,
} from './keys.js';
export { BoundedLogs, type LogWritePlan } from './bounded-log.js';
export { KeyedSerial } from './keyed-serial.js';
