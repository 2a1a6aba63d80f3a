// What the store and history tests share: a check result to write, and the StoreError a failed
// operation rejects with.
import { expect } from 'vitest';
import type { CheckResultRecord } from '../../agent/shared/api-types.js';
import { StoreError } from '../../agent/store/index.js';

/** Result number `n` ("run n"): an OK, hard result with `longOutput` to give it weight. */
export function resultRecord(n: number, longOutput?: string): CheckResultRecord {
  return {
    at: `t${n}`,
    state: 'ok',
    state_type: 'hard',
    attempt: 1,
    output: `run ${n}`,
    ...(longOutput !== undefined && { long_output: longOutput }),
    perfdata: [],
    duration_ms: 1,
  };
}

/** The StoreError `promise` rejects with (fails the test if it resolves or throws anything else). */
export async function storeErrorFrom(promise: Promise<unknown>): Promise<StoreError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(StoreError);
  return error as StoreError;
}
