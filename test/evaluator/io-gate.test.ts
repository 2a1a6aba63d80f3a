// The I/O gate alone: the evaluator's file and lookup calls take at most `concurrency` of libuv's
// pool threads, however many evaluations want them; a call that waits too long for a turn (the
// holders are stuck: a hung mount) is unknown, and the gate stays usable.
import { describe, expect, it } from 'vitest';
import { UnknownValueError } from '../../agent/evaluator/index.js';
import { IoGate } from '../../agent/evaluator/host/io-gate.js';
import { ManualTimers } from './helpers.js';

/** A call the test finishes by hand, and whether it has started. */
function heldCall(): {
  call: () => Promise<string>;
  started: () => boolean;
  finish: (value: string) => void;
} {
  let started = false;
  let finish!: (value: string) => void;
  const done = new Promise<string>((resolve) => (finish = resolve));
  return {
    call: () => {
      started = true;
      return done;
    },
    started: () => started,
    finish,
  };
}

describe('IoGate', () => {
  it('runs at most `concurrency` calls at once, the others in order as calls finish', async () => {
    const gate = new IoGate(2, 15_000, new ManualTimers());
    const calls = Array.from({ length: 5 }, heldCall);
    const results = calls.map((held) => gate.run(held.call));
    await Promise.resolve();
    expect(calls.map((held) => held.started())).toEqual([true, true, false, false, false]);
    expect(gate.load()).toEqual({ running: 2, waiting: 3 });
    calls[1]!.finish('b');
    expect(await results[1]).toBe('b');
    await Promise.resolve();
    expect(calls.map((held) => held.started())).toEqual([true, true, true, false, false]);
    for (const [index, held] of calls.entries()) held.finish(String(index));
    expect(await Promise.all(results)).toEqual(['0', 'b', '2', '3', '4']);
    expect(gate.load()).toEqual({ running: 0, waiting: 0 });
  });

  it('gives up a call that waited maxWaitMs behind stuck ones, as unknown, and frees its place in line', async () => {
    const timers = new ManualTimers();
    const gate = new IoGate(2, 15_000, timers);
    const stuck = [heldCall(), heldCall()];
    for (const held of stuck) void gate.run(held.call);
    const waiting = gate
      .run(() => Promise.resolve(new Error('never')))
      .catch((error: unknown) => error as Error);
    timers.advance(15_000);
    const error = await waiting;
    expect(error).toBeInstanceOf(UnknownValueError);
    expect(error.message).toBe(
      "unknown: the host's files did not answer: 2 file or name lookups have been pending for over 15 s (a hung mount?)",
    );
    expect(gate.load()).toEqual({ running: 2, waiting: 0 });
    // Once a stuck call returns, the gate serves again.
    stuck[0]!.finish('late');
    expect(await gate.run(() => Promise.resolve('ok'))).toBe('ok');
  });

  it('releases a place when the call fails', async () => {
    const gate = new IoGate(1, 15_000, new ManualTimers());
    await expect(gate.run(() => Promise.reject(new Error('EIO')))).rejects.toThrow('EIO');
    expect(await gate.run(() => Promise.resolve(1))).toBe(1);
    expect(gate.load()).toEqual({ running: 0, waiting: 0 });
  });
});
