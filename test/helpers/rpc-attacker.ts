// A client without the cluster key that tries to hold a cluster RPC port shut: it keeps
// `connectionsPerAddress` raw TCP connections open from each of its source addresses, says
// nothing on them, and reopens each one (from the same address) as soon as the node closes it.
// It runs on a worker thread (its own event loop, like a separate attacker process would have),
// and reports how long the node let its connections live.
import { Worker } from 'node:worker_threads';

export interface AttackerStats {
  /** Connections open right now (connected, not yet closed). */
  open: number;
  /** Connections that reached 'connect' since the start. */
  connected: number;
  /** Connections the node closed (or reset) since the start. */
  closedByNode: number;
  /** The longest any connection lived before the node closed it, in ms. */
  maxLifetimeMs: number;
}

export interface AttackerReport extends AttackerStats {
  /** After stop(): how long the node took to close the connections still open, in ms. */
  lingerMs: number;
  /** Connections still open when stop() was called. */
  openAtStop: number;
}

export interface Attacker {
  stats(): Promise<AttackerStats>;
  /** Stops reopening, then waits for the node to close every connection still open. */
  stop(): Promise<AttackerReport>;
  /** Destroys every socket and the worker (idempotent). */
  terminate(): Promise<void>;
}

// Plain CommonJS: an eval'd worker does not go through the TypeScript transform.
const ATTACKER_SOURCE = `
const net = require('node:net');
const { parentPort, workerData } = require('node:worker_threads');
const { host, port, localAddresses, connectionsPerAddress } = workerData;
const live = new Set();
let running = true;
let connected = 0;
let closedByNode = 0;
let maxLifetimeMs = 0;
let openNow = 0;
let stopAt;
let openAtStop = 0;

function open(localAddress) {
  const socket = net.connect({ host, port, localAddress });
  let connectedAt;
  live.add(socket);
  socket.on('connect', () => {
    connectedAt = performance.now();
    connected++;
    openNow++;
  });
  socket.on('error', () => undefined);
  // Read (and drop) what the node sends: a socket that does not read never sees the node close it.
  socket.resume();
  socket.on('close', () => {
    live.delete(socket);
    if (connectedAt !== undefined) {
      openNow--;
      closedByNode++;
      maxLifetimeMs = Math.max(maxLifetimeMs, performance.now() - connectedAt);
    }
    if (running) open(localAddress);
    else finishIfDone();
  });
}

function stats() {
  return { open: openNow, connected, closedByNode, maxLifetimeMs };
}

function finishIfDone() {
  if (stopAt === undefined || live.size > 0) return;
  parentPort.postMessage({ type: 'stopped', ...stats(), openAtStop, lingerMs: performance.now() - stopAt });
  stopAt = undefined;
}

parentPort.on('message', (message) => {
  if (message === 'stats') parentPort.postMessage({ type: 'stats', ...stats() });
  if (message === 'stop') {
    running = false;
    stopAt = performance.now();
    openAtStop = live.size;
    finishIfDone();
  }
});

for (const localAddress of localAddresses) {
  for (let index = 0; index < connectionsPerAddress; index++) open(localAddress);
}
`;

export function startAttacker(options: {
  host: string;
  port: number;
  /** The source addresses (bound locally; 127.0.0.x in tests). */
  localAddresses: string[];
  /** Connections kept open from each address. */
  connectionsPerAddress: number;
}): Attacker {
  const worker = new Worker(ATTACKER_SOURCE, { eval: true, workerData: options });
  let terminated: Promise<void> | undefined;
  const ask = <T>(message: 'stats' | 'stop', answer: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (reply: { type: string } & T): void => {
        if (reply.type !== answer) return;
        worker.off('message', onMessage);
        worker.off('error', reject);
        resolve(reply);
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
      worker.postMessage(message);
    });
  return {
    stats: () => ask<AttackerStats>('stats', 'stats'),
    stop: () => ask<AttackerReport>('stop', 'stopped'),
    terminate: () => {
      // Terminating the worker closes its sockets with it.
      terminated ??= worker.terminate().then(() => undefined);
      return terminated;
    },
  };
}
