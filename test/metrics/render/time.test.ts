// from/until time expressions as graphite-web's attime.py reads them, in UTC, with a fixed "now":
// Tuesday 2023-11-14 22:13:20 UTC (1700000000).
import { describe, expect, it } from 'vitest';
import { parseAtTime, parseTimeOffset } from '../../../agent/metrics/render/time.js';

const NOW = 1_700_000_000;
const TODAY = 1_699_920_000; // 2023-11-14 00:00 UTC
const DAY = 86_400;

describe('parseAtTime', () => {
  it.each([
    ['now', NOW],
    ['', NOW],
    ['-1h', NOW - 3600],
    ['now-1h', NOW - 3600],
    ['-5min', NOW - 300],
    ['-30s', NOW - 30],
    ['-7d', NOW - 7 * DAY],
    ['-2w', NOW - 14 * DAY],
    ['-1mon', NOW - 30 * DAY],
    ['-1y', NOW - 365 * DAY],
    ['+1h', NOW + 3600],
    ['now+1h', NOW + 3600],
    ['-1h30min', NOW - 5400],
    ['-10minutes', NOW - 600],
    ['-1H', NOW - 3600],
    ['1699990000', 1_699_990_000],
    ['today', TODAY],
    ['yesterday', TODAY - DAY],
    ['tomorrow', TODAY + DAY],
    ['midnight', TODAY],
    ['noon', TODAY + 12 * 3600],
    ['noon yesterday', TODAY - DAY + 12 * 3600],
    ['midnight+1d', TODAY + DAY],
    ['today-1d', TODAY - DAY],
    ['4pm', TODAY + 16 * 3600],
    ['teatime', TODAY + 16 * 3600],
    ['16:00_20110501', 1_304_265_600],
    ['16:00 20110501', 1_304_265_600],
    ['20110501', 1_304_208_000],
    ['12/31/2020', 1_609_372_800],
    ['12/31/20', 1_609_372_800],
    ['jan5', 1_672_876_800],
    ['monday', TODAY - DAY],
    ['tuesday', TODAY],
  ])('%j is %d', (text, expected) => {
    expect(parseAtTime(text, NOW)).toBe(expected);
  });

  it.each([
    ['garbage', 'unknown day reference'],
    ['-1x', 'invalid offset unit'],
    ['-1', 'invalid offset unit'],
    ['-h', 'a number is expected'],
    ['25:00_20110501', 'no such time of day'],
    ['20110231', 'no such date'],
    ['now-1d+2h', 'unknown day reference'],
    ['feb', 'day of month required'],
  ])('refuses %j, naming it', (text, reason) => {
    expect(() => parseAtTime(text, NOW)).toThrow(`invalid time ${JSON.stringify(text)}`);
    expect(() => parseAtTime(text, NOW)).toThrow(reason);
  });

  it('refuses other time zones and absurd input', () => {
    expect(() => parseAtTime('now', NOW, 'Europe/Paris' as 'UTC')).toThrow('only UTC');
    expect(() => parseAtTime('-'.repeat(300), NOW)).toThrow('invalid time');
  });
});

describe('parseTimeOffset', () => {
  it.each([
    ['1h', 3600],
    ['-1h', -3600],
    ['+2d', 2 * DAY],
    ['5min', 300],
    ['1mon', 30 * DAY],
    ['1y', 365 * DAY],
    ['1w2d', 9 * DAY],
    ['', 0],
  ])('%j is %d seconds', (text, expected) => {
    expect(parseTimeOffset(text)).toBe(expected);
  });

  it('is case-sensitive like graphite (only parseAtTime lower-cases)', () => {
    expect(() => parseTimeOffset('1H')).toThrow('invalid offset unit');
    expect(() => parseTimeOffset('1m')).toThrow('invalid offset unit');
    expect(() => parseTimeOffset('x1h')).toThrow('invalid offset');
  });
});
