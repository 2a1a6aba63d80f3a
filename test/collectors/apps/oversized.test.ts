// Strangers on the collectors' ports: a "redis" that answers INFO with an endless bulk string, an
// HTTP server that sends an endless body. Each run ends in a clear collector error at the 1 MiB
// bound (not at the run's timeout), the client closes the connection, and the server could push only
// what the socket buffers hold.
import { createServer as createHttpServer, type Server as HttpServer, type ServerResponse } from 'node:http';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';

import { nginxCollectorType } from '../../../agent/collectors/apps/nginx.js';
import { rabbitmqCollectorType } from '../../../agent/collectors/apps/rabbitmq.js';
import { redisCollectorType } from '../../../agent/collectors/apps/redis.js';
import type { CollectorInstance } from '../../../agent/collectors/collector.js';
import { collectError, collectorsOf, runContext } from './servers.js';

const MiB = 1024 * 1024;
/** A run timeout far beyond the test's expectations: an error must come from the bound, not from it. */
const LONG_TIMEOUT_MS = 60_000;

/** What a stranger server saw of one connection: bytes it managed to write, and when it closed. */
interface Stream {
  written: number;
  closed: Promise<void>;
}

/** Writes `chunk` over and over, as fast as the socket takes it, until the peer goes away. */
function endless(
  socket: { write(chunk: Buffer): boolean; once(event: 'drain', f: () => void): unknown },
  chunk: Buffer,
  stream: Stream,
): void {
  const pump = (): void => {
    while (socket.write(chunk)) stream.written += chunk.length;
    stream.written += chunk.length;
    socket.once('drain', pump);
  };
  pump();
}

const servers: Array<Server | HttpServer> = [];
const collectors = [redisCollectorType, nginxCollectorType, rabbitmqCollectorType].map(collectorsOf);

afterEach(async () => {
  await Promise.all(collectors.map((c) => c.closeAll()));
  for (const server of servers.splice(0)) {
    (server as { closeAllConnections?: () => void }).closeAllConnections?.();
    server.close();
  }
});

/**
 * A TCP server on 127.0.0.1 speaking just enough RESP: +PONG to PING, then `answerInfo` for INFO.
 * Returns its port and the stream of the first INFO answer.
 */
async function fakeRedis(
  answerInfo: (socket: Socket, stream: Stream) => void,
): Promise<{ port: number; stream: Promise<Stream> }> {
  let resolveStream!: (stream: Stream) => void;
  const streamPromise = new Promise<Stream>((resolve) => (resolveStream = resolve));
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    let received = '';
    socket.on('data', (data: Buffer) => {
      received += data.toString('latin1');
      if (received.includes('PING')) {
        received = received.slice(received.indexOf('PING') + 4);
        socket.write('+PONG\r\n');
      }
      if (received.includes('INFO')) {
        received = '';
        const stream: Stream = {
          written: 0,
          closed: new Promise<void>((resolve) => socket.once('close', () => resolve())),
        };
        resolveStream(stream);
        answerInfo(socket, stream);
      }
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, stream: streamPromise };
}

/** Runs `collector` once; expects it to fail with `message` well before the long timeout. */
async function expectBoundedFailure(collector: CollectorInstance, message: string | RegExp): Promise<void> {
  const startedAt = performance.now();
  const error = await collectError(collector, runContext(LONG_TIMEOUT_MS));
  expect(error?.message).toMatch(message);
  expect(performance.now() - startedAt).toBeLessThan(LONG_TIMEOUT_MS / 4);
}

describe('redis collector against a stranger', () => {
  const redis = (port: number) => collectors[0]!.create({ host: '127.0.0.1', port });

  it('an endless bulk string: refused on its header, the connection closed', async () => {
    const { port, stream } = await fakeRedis((socket, s) => {
      socket.write(`$${2 * 1024 * MiB}\r\n`);
      endless(socket, Buffer.alloc(64 * 1024, 'x'), s);
    });
    await expectBoundedFailure(
      redis(port),
      `redis 127.0.0.1:${port}: a reply of ${2 * 1024 * MiB} bytes announced, more than the 1 MiB a reply may take: is this a redis server?`,
    );
    const seen = await stream;
    await seen.closed;
    // Whatever the kernel's socket buffers took, not an endless stream.
    expect(seen.written).toBeLessThan(64 * MiB);
  });

  it('a reply that never ends (a line without CRLF): refused at 1 MiB received', async () => {
    const { port, stream } = await fakeRedis((socket, s) => {
      socket.write('+');
      endless(socket, Buffer.alloc(64 * 1024, 'y'), s);
    });
    await expectBoundedFailure(
      redis(port),
      `redis 127.0.0.1:${port}: a reply of more than ${MiB} bytes, more than the 1 MiB a reply may take: is this a redis server?`,
    );
    const seen = await stream;
    await seen.closed;
    expect(seen.written).toBeLessThan(64 * MiB);
  });

  it('arrays nested deep, a huge array, a malformed length: protocol errors, not a stack overflow', async () => {
    const answers: Array<[string, string]> = [
      ['*1\r\n'.repeat(100_000), 'the server sent arrays nested more than 8 deep: is this a redis server?'],
      [
        '*999999999\r\n',
        'an array of 999999999 elements announced, more than the 1 MiB a reply may take: is this a redis server?',
      ],
      ['$abc\r\n', 'the server sent a malformed bulk string length ("abc"): is this a redis server?'],
    ];
    for (const [answer, message] of answers) {
      const { port } = await fakeRedis((socket) => socket.write(answer));
      await expectBoundedFailure(redis(port), `redis 127.0.0.1:${port}: ${message}`);
    }
  });

  it('an error reply of a megabyte is shown cut to 200 characters', async () => {
    const { port } = await fakeRedis((socket) => socket.write(`-ERR ${'e'.repeat(MiB - 100)}\r\n`));
    const error = await collectError(redis(port), runContext(LONG_TIMEOUT_MS));
    expect(error?.message).toBe(`redis 127.0.0.1:${port}: ERR ${'e'.repeat(196)}…`);
  });
});

/** An HTTP server on 127.0.0.1 answering every request with `answer`; the stream of the last one. */
async function fakeHttp(
  answer: (response: ServerResponse, stream: Stream) => void,
): Promise<{ port: number; streams: Stream[] }> {
  const streams: Stream[] = [];
  const server = createHttpServer((request, response) => {
    const stream: Stream = {
      written: 0,
      closed: new Promise<void>((resolve) => response.once('close', () => resolve())),
    };
    streams.push(stream);
    response.on('error', () => undefined);
    answer(response, stream);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, streams };
}

describe('HTTP collectors against a stranger', () => {
  it('nginx: an endless body is refused at 1 MiB, the connection closed', async () => {
    const { port, streams } = await fakeHttp((response, stream) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      endless(response, Buffer.alloc(64 * 1024, 'a'), stream);
    });
    await expectBoundedFailure(
      collectors[1]!.create({ url: `http://127.0.0.1:${port}/nginx_status` }),
      `nginx http://127.0.0.1:${port}/nginx_status: the answer is larger than 1 MiB (stopped reading there): is the url that of the status page?`,
    );
    await streams[0]!.closed;
    expect(streams[0]!.written).toBeLessThan(64 * MiB);
  });

  it('rabbitmq: a body announced larger than the bound is refused before it is read', async () => {
    const { port, streams } = await fakeHttp((response, stream) => {
      response.writeHead(200, {
        'content-type': 'application/json',
        'content-length': String(10 * 1024 * MiB),
      });
      endless(response, Buffer.alloc(64 * 1024, '{'), stream);
    });
    await expectBoundedFailure(
      collectors[2]!.create({ url: `http://127.0.0.1:${port}` }),
      `rabbitmq http://127.0.0.1:${port}/api/overview: the answer is larger than 1 MiB (content-length ${10 * 1024 * MiB}): is the url that of the status page?`,
    );
    await streams[0]!.closed;
    expect(streams[0]!.written).toBeLessThan(64 * MiB);
  });

  it('an error status with an endless body: the status is the error, the body is not read', async () => {
    const { port, streams } = await fakeHttp((response, stream) => {
      response.writeHead(503, 'Service Unavailable');
      endless(response, Buffer.alloc(64 * 1024, 'b'), stream);
    });
    await expectBoundedFailure(
      collectors[1]!.create({ url: `http://127.0.0.1:${port}/nginx_status` }),
      `nginx http://127.0.0.1:${port}/nginx_status: HTTP 503 Service Unavailable`,
    );
    await streams[0]!.closed;
    expect(streams[0]!.written).toBeLessThan(64 * MiB);
  });

  it('a body just under the bound is still read', async () => {
    const page =
      'Active connections: 1 \nserver accepts handled requests\n 1 1 1 \nReading: 0 Writing: 1 Waiting: 0 \n';
    const { port } = await fakeHttp((response) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.end(page + ' '.repeat(MiB - page.length));
    });
    const data = await collectors[1]!
      .create({ url: `http://127.0.0.1:${port}/nginx_status` })
      .collect(runContext(LONG_TIMEOUT_MS));
    expect(data).toMatchObject({ active: 1, requests: 1 });
  });
});
