// A statsd reader process (statsd-readers.ts): forked by the agent under load, handed the agent's
// statsd socket over the IPC channel (the kernel gives it its own descriptor of the same socket),
// it reads and parses datagrams beside the agent and hands over what it gathered at each flush.
// It imports only the parser: a small process, and one that exits with its parent.
import type { Socket } from 'node:dgram';
import { StatsdInterval } from './statsd-interval.js';
import type { ReaderReply, ReaderRequest } from './statsd-readers.js';

process.title = 'opsbro-statsd-reader';
let interval: StatsdInterval | undefined;

function reply(message: ReaderReply): void {
  process.send?.(message);
}

process.on('message', (message: ReaderRequest, handle?: unknown) => {
  if (message.type === 'listen') {
    interval = new StatsdInterval(message.maxKeys);
    const socket = handle as Socket;
    socket.on('message', (packet) => interval!.ingest(packet));
    socket.on('error', () => {});
    reply({ type: 'listening' });
  } else if (message.type === 'take') {
    reply({ type: 'interval', id: message.id, snapshot: interval?.take() });
  }
});
// The agent gone (stopped, crashed, killed): nothing here is worth outliving it.
process.on('disconnect', () => process.exit(0));
