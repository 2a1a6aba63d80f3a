// Digests, e.g. to compare a configuration file's expected content or shard by name.
import { createHash } from 'node:crypto';
import type { EvaluatorFunction } from './types.js';

/** Allowed algorithms: a fixed list, not whatever OpenSSL happens to offer. */
const ALGORITHMS = ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512'];

export const HASH_FUNCTIONS: readonly EvaluatorFunction[] = [
  {
    kind: 'plain',
    name: 'hash',
    signature: "hash(string, algo='sha256')",
    doc: `Hex digest of the string's UTF-8 bytes; algo is one of ${ALGORITHMS.join(', ')}.`,
    call(args) {
      const text = args.string(0);
      const algorithm = args.string(1, 'sha256').toLowerCase();
      if (!ALGORITHMS.includes(algorithm)) throw args.error(1, `must be one of ${ALGORITHMS.join(', ')}`);
      return createHash(algorithm).update(text, 'utf8').digest('hex');
    },
  },
];
