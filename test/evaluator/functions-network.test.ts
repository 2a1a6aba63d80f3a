// Network functions, on loopback only: check_tcp against a real listening server and a closed
// port, host_to_ip on names the resolver answers locally, ip_is_in_range on both IP families.
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Evaluator, ExpressionError } from '../../agent/evaluator/index.js';
import { fakeProviders } from './helpers.js';

const evaluator = new Evaluator(fakeProviders());
const evaluate = (expression: string) => evaluator.evaluate(expression);

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

describe('check_tcp', () => {
  const server = createServer((socket) => {
    received.push(socket.remotePort ?? 0);
    socket.on('data', (data) => bytes.push(data.length));
    socket.on('error', () => undefined);
    socket.on('close', () => closed++);
  });
  const received: number[] = [];
  const bytes: number[] = [];
  /** Connections the server saw end: what a connection sent has arrived by then. */
  let closed = 0;
  let openPort = 0;
  let closedPort = 0;

  beforeAll(async () => {
    openPort = await listen(server);
    const closed = createServer();
    closedPort = await listen(closed);
    await new Promise((resolve) => closed.close(resolve));
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('is True when something listens, and connects exactly once without sending data', async () => {
    const closedBefore = closed;
    expect(await evaluate(`check_tcp('127.0.0.1', ${openPort})`)).toBe(true);
    // Its connection closed on the server's side: anything it sent would have arrived before.
    await expect.poll(() => closed - closedBefore, { timeout: 5000 }).toBe(1);
    expect(received).toHaveLength(1);
    expect(bytes).toEqual([]);
  });

  it('is False on a closed port', async () => {
    expect(await evaluate(`check_tcp('127.0.0.1', ${closedPort}, 1)`)).toBe(false);
    expect(await evaluate(`check_tcp('localhost', ${closedPort}, 0.5)`)).toBe(false);
  });

  it('accepts a fractional timeout and answers within it', async () => {
    const started = Date.now();
    expect(await evaluate(`check_tcp('127.0.0.1', ${openPort}, 0.2)`)).toBe(true);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('runs several checks in one expression', async () => {
    expect(
      await evaluate(`check_tcp('127.0.0.1', ${openPort}) and not check_tcp('127.0.0.1', ${closedPort})`),
    ).toBe(true);
  });

  it.each([
    ["check_tcp('127.0.0.1', 0)", 'port must be from 1 to 65535'],
    ["check_tcp('127.0.0.1', 70000)", 'port must be from 1 to 65535'],
    ["check_tcp('127.0.0.1', 80.5)", 'port must be a whole number'],
    ["check_tcp('127.0.0.1', '80')", "port must be a number, got string '80'"],
    ["check_tcp('127.0.0.1', 80, 0)", 'timeout_s must be more than 0 and at most 10 (seconds)'],
    ["check_tcp('127.0.0.1', 80, 11)", 'timeout_s must be more than 0 and at most 10 (seconds)'],
    ["check_tcp('', 80)", 'host must be a host name or an IP address'],
  ])('refuses %s', async (expression, message) => {
    const error = await evaluate(expression).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExpressionError);
    expect((error as Error).message).toContain(message);
  });
});

describe('host_to_ip', () => {
  it('resolves localhost and literal addresses to IPv4', async () => {
    expect(await evaluate("host_to_ip('localhost')")).toBe('127.0.0.1');
    expect(await evaluate("host_to_ip('127.0.0.1')")).toBe('127.0.0.1');
  });
});

describe('ip_is_in_range', () => {
  it.each([
    ["ip_is_in_range('172.16.0.30', '172.16.0.0/24')", true],
    ["ip_is_in_range('172.16.1.30', '172.16.0.0/24')", false],
    ["ip_is_in_range('10.1.2.3', '0.0.0.0/0')", true],
    ["ip_is_in_range('10.1.2.3', '10.1.2.3')", true],
    ["ip_is_in_range('::ffff:10.1.2.3', '10.0.0.0/8')", true],
    ["ip_is_in_range('fd00::1', 'fd00::/8')", true],
    ["ip_is_in_range('2001:db8::1', 'fd00::/8')", false],
    ["ip_is_in_range('10.0.0.1', 'fd00::/8')", false],
  ])('%s is %j', async (expression, expected) => {
    expect(await evaluate(expression)).toBe(expected);
  });

  it.each([
    ["ip_is_in_range('10.0.0.1', '10.0.0.0/33')", "cidr must be a range like '10.0.0.0/8'"],
    ["ip_is_in_range('10.0.0.1', 'nope/8')", "cidr must be a range like '10.0.0.0/8'"],
    ["ip_is_in_range('10.0.0.1', '10.0.0.0/8/1')", "cidr must be a range like '10.0.0.0/8'"],
    ["ip_is_in_range('10.0.0', '10.0.0.0/8')", 'ip must be an IPv4 or IPv6 address'],
  ])('refuses %s', async (expression, message) => {
    await expect(evaluate(expression)).rejects.toThrow(message);
  });
});
