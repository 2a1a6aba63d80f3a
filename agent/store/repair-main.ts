// `node repair-main.js <store-dir>`: the repair an open error of a corrupt store names
// (errors.ts, repairCommand), for an operator, with the agent stopped.
import { messageOf } from '../shared/errors.js';
import { repairStore } from './repair.js';

const location = process.argv[2];
if (location === undefined || process.argv.length > 3) {
  process.stderr.write(
    'usage: node repair-main.js <store-dir>  (the agent stopped; <store-dir> is <data-dir>/store)\n',
  );
  process.exit(2);
}
try {
  await repairStore(location);
  process.stdout.write(`repaired ${location}; what LevelDB set aside is in ${location}/LOG\n`);
} catch (error) {
  process.stderr.write(`${messageOf(error)}\n`);
  process.exit(1);
}
