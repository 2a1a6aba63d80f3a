// A stand-in mongod for the mongodb collector and check tests (Debian 12 ships no MongoDB server): a
// TCP server on 127.0.0.1 that speaks the real wire protocol to the real driver (OP_QUERY/OP_REPLY
// for the legacy handshake, OP_MSG after it), with BSON from the driver. It answers hello/isMaster
// like a mongod 7.0 (standalone, or a replica set member when the test sets `replSetStatus`),
// `serverStatus` and `replSetGetStatus` with the documents the test sets, ping/endSessions with ok.
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';

import { BSON, type Document } from 'mongodb';

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;
const MSG_CHECKSUM_PRESENT = 1;
const MSG_MORE_TO_COME = 2;

export interface MongoWireServer {
  port: number;
  /** The serverStatus document answered (replace it between runs to move counters). */
  serverStatus: Document;
  /** Commands received, by name (lower-cased), to assert what the driver sent. */
  commands: string[];
  /** When set, serverStatus answers this error document instead ({ok: 0, errmsg, code}). */
  serverStatusError?: Document;
  /** replSetGetStatus's answer; unset: a standalone's refusal (code 76, NoReplicationEnabled). */
  replSetStatus?: Document;
  close(): Promise<void>;
}

function cstringEnd(buffer: Buffer, offset: number): number {
  const end = buffer.indexOf(0, offset);
  if (end < 0) throw new Error('unterminated cstring');
  return end;
}

function header(length: number, requestId: number, responseTo: number, opCode: number): Buffer {
  const out = Buffer.alloc(16);
  out.writeInt32LE(length, 0);
  out.writeInt32LE(requestId, 4);
  out.writeInt32LE(responseTo, 8);
  out.writeInt32LE(opCode, 12);
  return out;
}

export async function startMongoWireServer(initialStatus: Document): Promise<MongoWireServer> {
  const sockets = new Set<Socket>();
  let nextRequestId = 1;
  let connectionId = 0;
  const state: MongoWireServer = {
    port: 0,
    serverStatus: initialStatus,
    commands: [],
    close: () => Promise.resolve(),
  };

  const hello = (id: number): Document => ({
    helloOk: true,
    ismaster: true,
    isWritablePrimary: true,
    maxBsonObjectSize: 16 * 1024 * 1024,
    maxMessageSizeBytes: 48_000_000,
    maxWriteBatchSize: 100_000,
    localTime: new Date(),
    logicalSessionTimeoutMinutes: 30,
    connectionId: id,
    minWireVersion: 0,
    maxWireVersion: 21,
    readOnly: false,
    ok: 1,
  });

  const answer = (command: Document, id: number): Document => {
    const name = Object.keys(command)[0]?.toLowerCase() ?? '';
    state.commands.push(name);
    switch (name) {
      case 'hello':
      case 'ismaster':
        return hello(id);
      case 'serverstatus':
        return state.serverStatusError ?? { ...state.serverStatus, ok: 1 };
      case 'replsetgetstatus':
        return state.replSetStatus
          ? { ...state.replSetStatus, ok: 1 }
          : { ok: 0, errmsg: 'not running with --replSet', code: 76, codeName: 'NoReplicationEnabled' };
      case 'ping':
      case 'endsessions':
        return { ok: 1 };
      default:
        return { ok: 0, errmsg: `no such command: '${name}'`, code: 59, codeName: 'CommandNotFound' };
    }
  };

  const handle = (socket: Socket, message: Buffer, id: number): void => {
    const requestId = message.readInt32LE(4);
    const opCode = message.readInt32LE(12);
    if (opCode === OP_QUERY) {
      // flags(4) fullCollectionName(cstring) numberToSkip(4) numberToReturn(4) query(doc)
      const nameEnd = cstringEnd(message, 20);
      const query = BSON.deserialize(message.subarray(nameEnd + 1 + 8));
      const doc = BSON.serialize(answer(query, id));
      const body = Buffer.alloc(20);
      body.writeInt32LE(0, 0); // responseFlags
      body.writeBigInt64LE(0n, 4); // cursorID
      body.writeInt32LE(0, 12); // startingFrom
      body.writeInt32LE(1, 16); // numberReturned
      const length = 16 + body.length + doc.length;
      socket.write(Buffer.concat([header(length, nextRequestId++, requestId, OP_REPLY), body, doc]));
      return;
    }
    if (opCode === OP_MSG) {
      const flags = message.readUInt32LE(16);
      const end = message.length - (flags & MSG_CHECKSUM_PRESENT ? 4 : 0);
      let offset = 20;
      let command: Document = {};
      while (offset < end) {
        const kind = message[offset];
        offset += 1;
        if (kind === 0) {
          const size = message.readInt32LE(offset);
          command = { ...BSON.deserialize(message.subarray(offset, offset + size)), ...command };
          offset += size;
        } else {
          // Document sequence (inserts): skipped, the collector never sends one.
          offset += message.readInt32LE(offset);
        }
      }
      const reply = answer(command, id);
      if (flags & MSG_MORE_TO_COME) return;
      const doc = BSON.serialize(reply);
      const flagBits = Buffer.alloc(5); // flagBits 0, then section kind 0
      const length = 16 + flagBits.length + doc.length;
      socket.write(Buffer.concat([header(length, nextRequestId++, requestId, OP_MSG), flagBits, doc]));
      return;
    }
    socket.destroy(new Error(`unsupported opCode ${opCode}`));
  };

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const id = ++connectionId;
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= 4) {
        const length = buffer.readInt32LE(0);
        if (buffer.length < length) break;
        const message = buffer.subarray(0, length);
        buffer = buffer.subarray(length);
        try {
          handle(socket, message, id);
        } catch (error) {
          socket.destroy(error instanceof Error ? error : new Error(String(error)));
          return;
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  state.close = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return state;
}
