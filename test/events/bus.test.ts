// The event bus isolates subscribers: a throwing (or rejecting) one is reported, the others run, and
// the publisher never sees the error.
import { describe, expect, it } from 'vitest';
import { type AgentEventName, EventBus } from '../../agent/events/index.js';

const reason = { reason: 'test' };

describe('EventBus', () => {
  it('runs every subscriber when one throws, reports the error, and emit() returns normally', () => {
    const reported: Array<{ event: AgentEventName; message: string }> = [];
    const bus = new EventBus({
      onSubscriberError: (error, event) => reported.push({ event, message: (error as Error).message }),
    });
    const calls: string[] = [];
    bus.on('agent-stopping', () => calls.push('first'));
    bus.on('agent-stopping', () => {
      calls.push('throwing');
      throw new Error('subscriber bug');
    });
    bus.on('agent-stopping', () => calls.push('last'));

    expect(() => bus.emit('agent-stopping', reason)).not.toThrow();
    expect(calls).toEqual(['first', 'throwing', 'last']);
    expect(reported).toEqual([{ event: 'agent-stopping', message: 'subscriber bug' }]);
  });

  it('reports a subscriber whose promise rejects, without an unhandled rejection', async () => {
    let resolveReported!: (message: string) => void;
    const reported = new Promise<string>((resolve) => (resolveReported = resolve));
    const bus = new EventBus({ onSubscriberError: (error) => resolveReported((error as Error).message) });
    bus.on('agent-stopping', async () => {
      await Promise.resolve();
      throw new Error('async bug');
    });
    const unhandled: unknown[] = [];
    const onUnhandled = (error: unknown) => unhandled.push(error);
    process.on('unhandledRejection', onUnhandled);
    try {
      bus.emit('agent-stopping', reason);
      // The report arrives in a later microtask: wait for it, not for time to pass.
      expect(await reported).toBe('async bug');
      // Node raises unhandled rejections after the microtask queue drains: one macrotask turn is enough.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
  });

  it('keeps running the others when the error reporter itself throws', () => {
    const bus = new EventBus({
      onSubscriberError: () => {
        throw new Error('log closed');
      },
    });
    const calls: string[] = [];
    bus.on('groups-changed', () => {
      throw new Error('bug');
    });
    bus.on('groups-changed', ({ groups }) => calls.push(...groups));
    expect(() => bus.emit('groups-changed', { groups: ['web'] })).not.toThrow();
    expect(calls).toEqual(['web']);
  });

  it('unsubscribes the isolated listener', () => {
    const bus = new EventBus({ onSubscriberError: () => undefined });
    const calls: number[] = [];
    const off = bus.on('groups-changed', () => calls.push(1));
    expect(bus.hasListeners('groups-changed')).toBe(true);
    off();
    expect(bus.hasListeners('groups-changed')).toBe(false);
    bus.emit('groups-changed', { groups: [] });
    expect(calls).toEqual([]);
  });
});
