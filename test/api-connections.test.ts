// The API's connection bounds, on the HttpApi alone: a connection that sends nothing is closed, a
// slow answer is not idleness, and past the cap new connections are refused at once.
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpApi } from '../agent/api/index.js';
import { Logger } from '../agent/log/index.js';
import { httpGet } from './helpers/agent-process.js';

const apis: HttpApi[] = [];
const sockets: Socket[] = [];

/** What /slow waits for before it answers (at once unless a test holds it), and who is told it was called. */
let answerWhen: Promise<void> = Promise.resolve();
let onSlowCalled = (): void => undefined;
afterEach(async () => {
  answerWhen = Promise.resolve();
  onSlowCalled = () => undefined;
  sockets.splice(0).forEach((socket) => socket.destroy());
  await Promise.all(apis.splice(0).map((api) => api.stop()));
});

async function startApi(options: { idleConnectionMs?: number; maxConnections?: number }): Promise<number> {
  const api = new HttpApi({
    bind: '127.0.0.1',
    port: 0,
    maxBodyBytes: 1024,
    tokens: [],
    logger: Logger.create({ level: 'error', format: 'text' }),
    ...options,
  });
  api.addRoutes([
    {
      method: 'GET',
      path: '/slow',
      access: 'read',
      description: 'answers when the test lets it',
      handler: async () => {
        onSlowCalled();
        await answerWhen;
        return { slow: true };
      },
    },
  ]);
  apis.push(api);
  await api.start();
  return api.tcpAddress!.port;
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
    sockets.push(socket);
  });
}

const closed = (socket: Socket) => new Promise<void>((resolve) => socket.once('close', () => resolve()));

describe('API connections', () => {
  it('closes a connection that sends nothing', async () => {
    const port = await startApi({ idleConnectionMs: 200 });
    const silent = await open(port);
    const started = Date.now();
    await closed(silent);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  });

  it('does not cut a request whose answer takes longer than the idle time', async () => {
    const port = await startApi({ idleConnectionMs: 200 });
    let release!: () => void;
    answerWhen = new Promise((resolve) => (release = resolve));
    const called = new Promise<void>((resolve) => (onSlowCalled = resolve));
    const replying = httpGet(`http://127.0.0.1:${port}/slow`);
    await called;
    // A connection opened after the request, and closed for idleness: the request's connection has
    // been quiet for longer than the idle time by then. Only then does the answer come.
    await closed(await open(port));
    release();
    const reply = await replying;
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({ slow: true });
  });

  it('refuses connections past the cap, and takes new ones when some close', async () => {
    const port = await startApi({ maxConnections: 20 });
    const held = await Promise.all(Array.from({ length: 20 }, () => open(port)));
    // The 21st is accepted by the kernel, then closed by the server at once.
    const extra = await open(port);
    await closed(extra);
    held.forEach((socket) => socket.destroy());
    await expect
      .poll(async () => (await httpGet(`http://127.0.0.1:${port}/slow`)).status, { timeout: 5000 })
      .toBe(200);
  });
});
