// Just enough MessagePack for Serf's RPC protocol (bench only; the project has no msgpack dependency).
// Encodes maps with string keys, strings, integers, booleans, arrays and null; decodes every type Serf's
// Go codec emits (fix/8/16/32 str and bin, maps, arrays, ints, floats, nil, bool; ext is skipped).

export class Incomplete extends Error {
  constructor() {
    super('msgpack: incomplete value');
  }
}

export type Value = null | boolean | number | string | Buffer | Value[] | { [key: string]: Value };

export function encode(value: Value): Buffer {
  const parts: Buffer[] = [];
  write(value, parts);
  return Buffer.concat(parts);
}

function header(type: number, length: number, size: 1 | 2 | 4): Buffer {
  const out = Buffer.alloc(1 + size);
  out[0] = type;
  if (size === 1) out.writeUInt8(length, 1);
  else if (size === 2) out.writeUInt16BE(length, 1);
  else out.writeUInt32BE(length, 1);
  return out;
}

function write(value: Value, parts: Buffer[]): void {
  if (value === null) parts.push(Buffer.from([0xc0]));
  else if (typeof value === 'boolean') parts.push(Buffer.from([value ? 0xc3 : 0xc2]));
  else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Error(`msgpack: only integers are encoded, got ${value}`);
    if (value >= 0 && value < 128) parts.push(Buffer.from([value]));
    else if (value < 0 && value >= -32) parts.push(Buffer.from([value & 0xff]));
    else {
      const out = Buffer.alloc(9);
      out[0] = 0xd3; // int64
      out.writeBigInt64BE(BigInt(value), 1);
      parts.push(out);
    }
  } else if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    // fixstr, then str16/str32: the old "raw" types every msgpack decoder reads (str8 is newer).
    if (bytes.length < 32) parts.push(Buffer.from([0xa0 | bytes.length]));
    else parts.push(bytes.length < 0x10000 ? header(0xda, bytes.length, 2) : header(0xdb, bytes.length, 4));
    parts.push(bytes);
  } else if (Buffer.isBuffer(value)) {
    parts.push(value.length < 0x100 ? header(0xc4, value.length, 1) : header(0xc6, value.length, 4), value);
  } else if (Array.isArray(value)) {
    if (value.length < 16) parts.push(Buffer.from([0x90 | value.length]));
    else parts.push(header(0xdd, value.length, 4));
    for (const item of value) write(item, parts);
  } else {
    const entries = Object.entries(value);
    if (entries.length < 16) parts.push(Buffer.from([0x80 | entries.length]));
    else parts.push(header(0xdf, entries.length, 4));
    for (const [key, item] of entries) {
      write(key, parts);
      write(item, parts);
    }
  }
}

/** Decodes one value at `offset`; throws Incomplete when `buf` ends before it does. */
export function decode(buf: Buffer, offset = 0): { value: Value; offset: number } {
  const need = (n: number): void => {
    if (offset + n > buf.length) throw new Incomplete();
  };
  const bytes = (n: number): Buffer => {
    need(n);
    const out = buf.subarray(offset, offset + n);
    offset += n;
    return out;
  };
  const uint = (size: 1 | 2 | 4): number => {
    need(size);
    const v =
      size === 1 ? buf.readUInt8(offset) : size === 2 ? buf.readUInt16BE(offset) : buf.readUInt32BE(offset);
    offset += size;
    return v;
  };
  const array = (length: number): Value[] => {
    const out: Value[] = [];
    for (let i = 0; i < length; i++) {
      const r = decode(buf, offset);
      out.push(r.value);
      offset = r.offset;
    }
    return out;
  };
  const map = (length: number): { [key: string]: Value } => {
    const out: { [key: string]: Value } = {};
    for (let i = 0; i < length; i++) {
      const k = decode(buf, offset);
      const v = decode(buf, k.offset);
      const key = k.value;
      out[
        Buffer.isBuffer(key)
          ? key.toString('utf8')
          : typeof key === 'object'
            ? JSON.stringify(key)
            : String(key)
      ] = v.value;
      offset = v.offset;
    }
    return out;
  };

  need(1);
  const type = buf[offset++]!;
  let value: Value;
  if (type < 0x80) value = type;
  else if (type >= 0xe0) value = type - 0x100;
  else if (type >= 0xa0 && type <= 0xbf) value = bytes(type & 0x1f).toString('utf8');
  else if (type >= 0x90 && type <= 0x9f) value = array(type & 0x0f);
  else if (type >= 0x80 && type <= 0x8f) value = map(type & 0x0f);
  else
    switch (type) {
      case 0xc0:
        value = null;
        break;
      case 0xc2:
        value = false;
        break;
      case 0xc3:
        value = true;
        break;
      case 0xc4:
      case 0xc5:
      case 0xc6:
        value = Buffer.from(bytes(uint(type === 0xc4 ? 1 : type === 0xc5 ? 2 : 4)));
        break;
      case 0xc7:
      case 0xc8:
      case 0xc9: {
        const length = uint(type === 0xc7 ? 1 : type === 0xc8 ? 2 : 4);
        bytes(1 + length); // ext: type byte and data, skipped
        value = null;
        break;
      }
      case 0xca:
        value = bytes(4).readFloatBE(0);
        break;
      case 0xcb:
        value = bytes(8).readDoubleBE(0);
        break;
      case 0xcc:
        value = uint(1);
        break;
      case 0xcd:
        value = uint(2);
        break;
      case 0xce:
        value = uint(4);
        break;
      case 0xcf:
        value = Number(bytes(8).readBigUInt64BE(0));
        break;
      case 0xd0:
        value = bytes(1).readInt8(0);
        break;
      case 0xd1:
        value = bytes(2).readInt16BE(0);
        break;
      case 0xd2:
        value = bytes(4).readInt32BE(0);
        break;
      case 0xd3:
        value = Number(bytes(8).readBigInt64BE(0));
        break;
      case 0xd4:
      case 0xd5:
      case 0xd6:
      case 0xd7:
      case 0xd8:
        bytes(1 + [1, 2, 4, 8, 16][type - 0xd4]!); // fixext, skipped
        value = null;
        break;
      case 0xd9:
      case 0xda:
      case 0xdb:
        value = bytes(uint(type === 0xd9 ? 1 : type === 0xda ? 2 : 4)).toString('utf8');
        break;
      case 0xdc:
      case 0xdd:
        value = array(uint(type === 0xdc ? 2 : 4));
        break;
      case 0xde:
      case 0xdf:
        value = map(uint(type === 0xde ? 2 : 4));
        break;
      default:
        throw new Error(`msgpack: unknown type byte 0x${type.toString(16)}`);
    }
  return { value, offset };
}
