// Check state on the wire and in memory, alone: the summary, brief, delta and table codecs and
// their bounds, and the tables a node holds, moved only by deltas that follow the version held.
import { encode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { cutToBytes } from '../../agent/shared/format.js';
import {
  boundBriefs,
  briefBytes,
  type CheckDelta,
  decodeTableAnswer,
  decodeTableRequest,
  encodeTableAnswer,
  encodeTableRequest,
  MAX_TABLE_BYTES,
  MAX_TABLE_CHECKS,
  summarize,
} from '../../agent/gossip/check-codec.js';
import { CheckTables, MAX_WAITING_DELTAS } from '../../agent/gossip/check-tables.js';
import {
  DecodeError,
  decodePacket,
  encodeMessage,
  encodePacket,
  MessageType,
  WIRE_VERSION,
} from '../../agent/gossip/codec.js';
import { brief } from './check-memory-cluster.js';

const stamp = (version: number, epoch = EPOCH) => ({ epoch, version });

/** A delta of node n1 from `base` to `version`. */
function delta(base: number, version: number, changes: Partial<CheckDelta> = {}): CheckDelta {
  const changed = changes.changed ?? [];
  return {
    nodeId: 'n1',
    span: version - base,
    summary: summarize(EPOCH, version, changed, false),
    complete: true,
    changed,
    removed: [],
    ...changes,
  };
}

/** A packet of one check-delta message whose fields after the type are `fields`. */
const deltaPacket = (fields: unknown[]) =>
  encodePacket({ senderId: 'n2', sequence: 1, messages: [encode([MessageType.CheckDelta, ...fields])] });

const EPOCH = 1_700_000_000;
const SUMMARY = [EPOCH, 5, 1, 0, 0, 0, 0, false];

describe('check codec', () => {
  it('round-trips a delta in a packet, override and soft state included', () => {
    const message = {
      type: MessageType.CheckDelta,
      ...delta(4, 6, {
        changed: [{ ...brief('cpu', 'critical'), state_type: 'soft' }, brief('disk', 'pending', '')],
        removed: ['old'],
        override: { state: 'critical', reason: 'maintenance', since: '2024-06-11T10:00:00.000Z' },
      }),
    } as const;
    const packet = decodePacket(
      encodePacket({ senderId: 'n2', sequence: 3, messages: [encodeMessage(message)] }),
    );
    expect(packet.messages).toEqual([message]);
  });

  it('round-trips a fetched table, bounded and summarised over every check', () => {
    const checks = Array.from({ length: MAX_TABLE_CHECKS + 5 }, (_, index) => brief(`c${index}`));
    checks.push(brief('zz-broken', 'critical'));
    const bytes = encodeTableAnswer(WIRE_VERSION, { node: 'n', node_id: 'n1', version: 42, checks }, EPOCH);
    const table = decodeTableAnswer(WIRE_VERSION, bytes);
    expect(table.summary).toMatchObject({
      version: 42,
      ok: MAX_TABLE_CHECKS + 5,
      critical: 1,
      override: false,
    });
    expect(table.checks).toHaveLength(MAX_TABLE_CHECKS);
    // The worst first: the critical check is kept, an OK one is dropped.
    expect(table.checks[0]!.name).toBe('zz-broken');
    expect(decodeTableRequest(WIRE_VERSION, encodeTableRequest(WIRE_VERSION, 'n1'))).toBe('n1');
  });

  it('cuts outputs and override reasons to their bytes on the way out, never inside a character', () => {
    expect(cutToBytes('ééé', 5)).toBe('éé');
    expect(cutToBytes('abc', 5)).toBe('abc');
    const long = brief('cpu', 'warning', `${'é'.repeat(200)}\nsecond line`);
    const bytes = encodeTableAnswer(
      WIRE_VERSION,
      {
        node: 'n',
        node_id: 'n1',
        version: 1,
        checks: [long],
        override: { state: 'critical', reason: 'x'.repeat(1000), since: 'now' },
      },
      EPOCH,
    );
    const table = decodeTableAnswer(WIRE_VERSION, bytes);
    expect(table.checks[0]!.output).toBe('é'.repeat(128));
    expect(table.override!.reason).toHaveLength(256);
  });

  it.each([
    ['an output over 256 bytes', [['cpu', 0, true, 'é'.repeat(129), 1]]],
    ['an unknown state', [['cpu', 9, true, '', 1]]],
    ['a brief missing a field', [['cpu', 0, true, '']]],
    ['a check name over 256 characters', [['c'.repeat(257), 0, true, '', 1]]],
    ['more than 256 changes', Array.from({ length: 257 }, (_, index) => [`c${index}`, 0, true, '', 1])],
  ])('refuses a delta with %s', (_what, changed) => {
    expect(() => decodePacket(deltaPacket(['n1', 1, SUMMARY, true, changed, [], null]))).toThrow(DecodeError);
  });

  it.each([
    ['a span beyond its version', ['n1', 6, SUMMARY, true, [], [], null]],
    ['a span of 0', ['n1', 0, SUMMARY, true, [], [], null]],
    ['a negative count', ['n1', 1, [EPOCH, 5, -1, 0, 0, 0, 0, false], true, [], [], null]],
    ['a summary without its override flag', ['n1', 1, [EPOCH, 5, 1, 0, 0, 0, 0], true, [], [], null]],
    ['an override reason over 256 bytes', ['n1', 1, SUMMARY, true, [], [], ['r'.repeat(257), 'now']]],
    ['a missing field', ['n1', 1, SUMMARY, true, [], []]],
  ])('refuses a delta with %s', (_what, fields) => {
    expect(() => decodePacket(deltaPacket(fields))).toThrow(DecodeError);
  });

  it('refuses a fetched table over its bounds', () => {
    const tooMany = encode([
      WIRE_VERSION,
      'n1',
      [EPOCH, 1, 0, 0, 0, 0, 0, false],
      Array(MAX_TABLE_CHECKS + 1).fill(['c', 0, true, '', 1]),
      null,
    ]);
    expect(() => decodeTableAnswer(WIRE_VERSION, tooMany)).toThrow(/at most 1000/);
    // 1000 briefs of 120-character names and 150-byte outputs: within the count and the answer's
    // size, over the table's bytes (each brief counts 24 more).
    const big = Array.from({ length: MAX_TABLE_CHECKS }, (_, index) => [
      `${index}`.padEnd(120, 'n'),
      0,
      true,
      'o'.repeat(150),
      1,
    ]);
    const tooLarge = encode([WIRE_VERSION, 'n1', [EPOCH, 1, 0, 0, 0, 0, 0, false], big, null]);
    expect(() => decodeTableAnswer(WIRE_VERSION, tooLarge)).toThrow(`over ${MAX_TABLE_BYTES} bytes`);
    expect(() => decodeTableAnswer(WIRE_VERSION, new Uint8Array(400 * 1024))).toThrow(/over/);
  });

  it('bounds a table by count and bytes, the worst states first', () => {
    const briefs = [
      brief('b', 'ok'),
      brief('a', 'ok'),
      brief('z', 'unknown'),
      brief('y', 'pending'),
      brief('x', 'warning'),
    ];
    expect(boundBriefs(briefs).map((kept) => kept.name)).toEqual(['x', 'z', 'y', 'a', 'b']);
    const large = Array.from({ length: 800 }, (_, index) =>
      brief(`${index}`.padEnd(200, '-'), 'ok', 'o'.repeat(200)),
    );
    const kept = boundBriefs(large);
    const keptBytes = kept.reduce((total, one) => total + briefBytes(one), 0);
    expect(keptBytes).toBeLessThanOrEqual(MAX_TABLE_BYTES);
    expect(keptBytes + briefBytes(large[0]!)).toBeGreaterThan(MAX_TABLE_BYTES);
  });
});

describe('check tables', () => {
  it('applies a delta only on top of the version it follows', () => {
    const tables = new CheckTables();
    tables.replace('n1', stamp(3), [brief('cpu'), brief('disk')]);
    // From version 4: one is missing (4 -> 5 applies on 4, not 3).
    expect(tables.receive(delta(4, 5, { changed: [brief('cpu', 'critical')] }))).toEqual({
      news: true,
      applied: false,
    });
    expect(tables.get('n1')!.version).toBe(3);
    expect(tables.get('n1')!.checks.get('cpu')!.state).toBe('ok');
    // The missing one arrives: both apply, in order.
    expect(tables.receive(delta(3, 4, { changed: [brief('disk', 'warning')], removed: [] }))).toEqual({
      news: true,
      applied: true,
    });
    const table = tables.get('n1')!;
    expect(table.version).toBe(5);
    expect(table.checks.get('cpu')!.state).toBe('critical');
    expect(table.checks.get('disk')!.state).toBe('warning');
    expect(tables.newestWaiting('n1')).toBeUndefined();
    // Heard again: old news, not relayed.
    expect(tables.receive(delta(4, 5, { changed: [brief('cpu', 'ok')] }))).toEqual({
      news: false,
      applied: false,
    });
    expect(table.checks.get('cpu')!.state).toBe('critical');
  });

  it('applies a delta spanning several versions on any version it reaches back to, and the waiting ones after it', () => {
    const APPLIED = { news: true, applied: true };
    const WAITS = { news: true, applied: false };
    const tables = new CheckTables();
    tables.replace('n1', stamp(4), [brief('cpu', 'critical'), brief('disk'), brief('load')]);
    // 3 -> 6 on version 4: every check changed since 3, as it is at 6 (cpu critical at 4, then
    // ok at 6; disk warning at 5; load removed at 5).
    const spanning = delta(3, 6, {
      changed: [brief('cpu', 'ok'), brief('disk', 'warning')],
      removed: ['load'],
    });
    expect(tables.receive(spanning)).toEqual(APPLIED);
    let table = tables.get('n1')!;
    expect(table.version).toBe(6);
    expect([...table.checks.values()].map((one) => [one.name, one.state])).toEqual([
      ['cpu', 'ok'],
      ['disk', 'warning'],
    ]);
    // Reaching back only to 7 (7 missed): waits. Then 8 -> 9 waits too, and 5 -> 10 (reaching back
    // past 6) applies at once; those waiting are behind it, dropped. (A node sends one delta per
    // version: two of one version are the same news.)
    expect(tables.receive(delta(7, 8, { changed: [brief('cpu', 'unknown')] }))).toEqual(WAITS);
    expect(tables.receive(delta(8, 9, { changed: [brief('disk', 'ok')] }))).toEqual(WAITS);
    expect(tables.newestWaiting('n1')!.version).toBe(9);
    expect(
      tables.receive(delta(5, 10, { changed: [brief('cpu', 'unknown'), brief('disk', 'ok'), brief('new')] })),
    ).toEqual(APPLIED);
    table = tables.get('n1')!;
    expect(table.version).toBe(10);
    expect(table.checks.get('new')!.state).toBe('ok');
    expect(tables.newestWaiting('n1')).toBeUndefined();
    // Two waiting behind a missing version, the newer reaching back as far: once the gap closes
    // the table ends at the newest, nothing left waiting.
    expect(tables.receive(delta(11, 12, { changed: [brief('cpu', 'warning')] }))).toEqual(WAITS);
    expect(tables.receive(delta(11, 13, { changed: [brief('cpu', 'critical')] }))).toEqual(WAITS);
    expect(tables.receive(delta(10, 11, { changed: [brief('disk', 'critical')] }))).toEqual(APPLIED);
    expect(table.version).toBe(13);
    expect(table.checks.get('cpu')!.state).toBe('critical');
    expect(tables.newestWaiting('n1')).toBeUndefined();
    // A spanning delta of another epoch, or a version-only one, never applies.
    expect(tables.receive({ ...delta(5, 14), summary: summarize(EPOCH + 1, 14, [], false) }).applied).toBe(
      false,
    );
    expect(tables.receive({ ...delta(5, 15), complete: false }).applied).toBe(false);
    expect(table.version).toBe(13);
  });

  it('removes checks, sets and clears the override, and spans several versions at once', () => {
    const tables = new CheckTables();
    tables.replace('n1', stamp(1), [brief('cpu'), brief('disk')]);
    const override = { state: 'critical' as const, reason: 'r', since: 's' };
    tables.receive(delta(1, 4, { removed: ['disk'], override }));
    expect([...tables.get('n1')!.checks.keys()]).toEqual(['cpu']);
    expect(tables.get('n1')!.override).toEqual(override);
    tables.receive(delta(4, 5));
    expect(tables.get('n1')!.override).toBeUndefined();
  });

  it('orders versions within an epoch, and a later epoch before any version of an earlier one', () => {
    const tables = new CheckTables();
    tables.replace('n1', stamp(7), [brief('cpu')]);
    // The node restarted: version 2 of a later epoch is news, and does not apply on version 7
    // (nor would it on a version 1 of the earlier epoch).
    const restarted = {
      ...delta(1, 2, { changed: [brief('disk')] }),
      summary: summarize(EPOCH + 60, 2, [], false),
    };
    expect(tables.receive(restarted)).toEqual({ news: true, applied: false });
    // A fetch of the new epoch: the waiting delta applies on it.
    tables.replace('n1', stamp(1, EPOCH + 60), [brief('load')]);
    expect(tables.get('n1')).toMatchObject({ epoch: EPOCH + 60, version: 2 });
    expect([...tables.get('n1')!.checks.keys()].sort()).toEqual(['disk', 'load']);
    // A delta of the earlier epoch, heard late: old news.
    expect(tables.receive(delta(7, 8, { changed: [brief('cpu', 'critical')] }))).toEqual({
      news: false,
      applied: false,
    });
  });

  it('never applies a version-only delta: only a fetch gets past it', () => {
    const tables = new CheckTables();
    tables.replace('n1', stamp(1), [brief('cpu')]);
    expect(tables.receive(delta(1, 2, { complete: false }))).toEqual({ news: true, applied: false });
    expect(tables.receive(delta(2, 3, { changed: [brief('cpu', 'warning')] }))).toEqual({
      news: true,
      applied: false,
    });
    expect(tables.get('n1')!.version).toBe(1);
    // The fetch answers version 2; the delta to 3 then applies on it.
    tables.replace('n1', stamp(2), [brief('cpu', 'critical')]);
    expect(tables.get('n1')!.version).toBe(3);
    expect(tables.get('n1')!.checks.get('cpu')!.state).toBe('warning');
  });

  it('keeps a bounded number of deltas waiting, and a bounded table', () => {
    const tables = new CheckTables();
    tables.replace('n1', stamp(0), []);
    for (let version = 2; version < 2 + MAX_WAITING_DELTAS + 5; version++)
      tables.receive(delta(version - 1, version));
    expect(tables.newestWaiting('n1')!.version).toBe(1 + MAX_WAITING_DELTAS + 5);
    tables.replace('n1', stamp(1), []);
    // The oldest waiting ones were forgotten: the chain from 1 is broken, and a fetch's answer
    // forgets the rest (the next delta or summary shows the gap again).
    expect(tables.get('n1')!.version).toBe(1);
    expect(tables.newestWaiting('n1')).toBeUndefined();

    const many = Array.from({ length: 200 }, (_, index) => brief(`new-${index}`, 'critical'));
    tables.replace(
      'n2',
      stamp(0),
      Array.from({ length: MAX_TABLE_CHECKS }, (_, index) => brief(`old-${index}`)),
    );
    tables.receive({ ...delta(0, 1, { changed: many }), nodeId: 'n2' });
    const table = tables.get('n2')!;
    expect(table.checks.size).toBe(MAX_TABLE_CHECKS);
    expect(table.checks.get('new-199')!.state).toBe('critical');
  });
});
