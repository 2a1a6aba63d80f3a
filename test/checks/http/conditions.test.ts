// Gatus-style conditions of the http check: each placeholder and function on known observations,
// the failure text with the value seen, and the config-time errors.
import { describe, expect, it } from 'vitest';
import {
  compileCondition,
  ConditionError,
  type HttpObservation,
} from '../../../agent/checks/http/conditions.js';

const observation: HttpObservation = {
  status: 200,
  responseTimeMs: 123.4,
  body: JSON.stringify({
    status: 'UP',
    data: { items: [{ name: 'web-1' }, { name: 'db-1' }], count: 2 },
    ok: true,
  }),
  connected: true,
  certificateExpirationMs: 72 * 3_600_000,
  ip: '127.0.0.1',
};

const check = (text: string, seen: HttpObservation = observation) => compileCondition(text).evaluate(seen);

describe('http conditions', () => {
  it.each([
    ['[STATUS] == 200', true],
    ['[STATUS] != 200', false],
    ['[STATUS] == any(200, 204)', true],
    ['[STATUS] == any(500, 503)', false],
    ['[STATUS] < 300', true],
    ['[STATUS] >= 400', false],
    ['[RESPONSE_TIME] < 300', true],
    ['[RESPONSE_TIME] <= 123', true],
    ['[RESPONSE_TIME] > 1s', false],
    ['[BODY].status == UP', true],
    ['[BODY].status == "UP"', true],
    ['[BODY].data.items[0].name == web-1', true],
    ['[BODY].data.items[1].name == pat(db-*)', true],
    ['[BODY].data.items[1].name == pat(web-*)', false],
    ['[BODY].data.count > 1', true],
    ['[BODY].ok == true', true],
    ['len([BODY].data.items) == 2', true],
    ['len([BODY].data.items) > 2', false],
    ['len([BODY].status) == 2', true],
    ['has([BODY].data) == true', true],
    ['has([BODY].error) == false', true],
    ['has([BODY].error) == true', false],
    ['[BODY] == pat(*"UP"*)', true],
    ['[CERTIFICATE_EXPIRATION] > 48h', true],
    ['[CERTIFICATE_EXPIRATION] > 1d23h', true],
    ['[CERTIFICATE_EXPIRATION] > 73h', false],
    ['[CONNECTED] == true', true],
    ['[IP] == 127.0.0.1', true],
    ['[BODY].missing.deeper == x', false],
    ['[BODY].missing != x', true],
  ])('%s is %s', (text, expected) => {
    expect(check(text).ok).toBe(expected);
  });

  it('says what it saw, as Gatus prints a failed condition', () => {
    expect(check('[STATUS] == 503')).toEqual({ ok: false, shown: '[STATUS] (200) == 503' });
    expect(check('len([BODY].data.items) > 5').shown).toBe('len([BODY].data.items) (2) > 5');
    expect(check('[BODY].nothing == 1').shown).toBe('[BODY].nothing (none) == 1');
  });

  it('reads a failed request: no status, not connected, no body', () => {
    const failed: HttpObservation = { responseTimeMs: 5, connected: false };
    expect(check('[CONNECTED] == false', failed).ok).toBe(true);
    expect(check('[STATUS] == 200', failed)).toEqual({ ok: false, shown: '[STATUS] (none) == 200' });
    expect(check('[BODY].status == UP', failed).ok).toBe(false);
  });

  it('a body that is not JSON has no paths, but is still text', () => {
    const text: HttpObservation = { ...observation, body: 'hello world' };
    expect(check('[BODY].a == 1', text).ok).toBe(false);
    expect(check('[BODY] == pat(hello*)', text).ok).toBe(true);
    expect(check('len([BODY]) == 11', text).ok).toBe(true);
  });

  it.each([
    ['[STATUS] 200', /no comparison/],
    ['[STATUSES] == 200', /unknown placeholder \[STATUSES\]/],
    ['[STATUS].a == 200', /only \[BODY\] takes a path/],
    ['[BODY].a[x] == 1', /cannot read the path/],
    ['len(200) > 1', /len\(\) takes a placeholder/],
    ['pat(a*) == [BODY]', /goes on the right side/],
    ['[BODY] > pat(a*)', /compare with == or != only/],
    ['[STATUS] == ', /nothing on the right/],
  ])('refuses %j when the check loads', (text, message) => {
    expect(() => compileCondition(text)).toThrow(ConditionError);
    expect(() => compileCondition(text)).toThrow(message);
  });
});
