// How a namespace turns values into bytes and back. msgpack by default: compact, and it keeps
// numbers, strings, arrays and maps as they were (undefined fields are left out, as JSON would).
// JSON for a namespace an operator may want to read in a raw dump.
//
// Decoding trusts the bytes: only this agent writes the store, and LevelDB checksums every block,
// so damage surfaces as a corruption error rather than as a value of the wrong shape. The type a
// reader asks for is therefore a promise the writer keeps, not something checked here.
import { decode, Encoder } from '@msgpack/msgpack';

export interface ValueCodec {
  readonly name: string;
  encode(value: unknown): Uint8Array;
  decode(bytes: Uint8Array): unknown;
}

/** One encoder for the process (a new one per value costs a fresh buffer); encode() returns a copy. */
const msgpackEncoder = new Encoder({ ignoreUndefined: true });

export const MSGPACK_CODEC: ValueCodec = {
  name: 'msgpack',
  encode: (value) => msgpackEncoder.encode(value),
  decode: (bytes) => decode(bytes),
};

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

export const JSON_CODEC: ValueCodec = {
  name: 'json',
  encode: (value) => textEncoder.encode(JSON.stringify(value)),
  decode: (bytes) => JSON.parse(textDecoder.decode(bytes)) as unknown,
};
