// The field checks every gossip decoder shares (packets, push-pull, check deltas, check tables):
// msgpack with bounded lengths, then each field checked for its type and size. What a decoder lets
// through is well formed and typed; what it refuses throws a DecodeError.
import { decode, Encoder } from '@msgpack/msgpack';
import { messageOf } from '../shared/errors.js';

/**
 * One encoder for the process: msgpack's encode() builds a new one, with a fresh 2 KiB buffer,
 * for every message. encode() returns a copy, so reuse is safe.
 */
const encoder = new Encoder();
export const encode = (value: unknown): Uint8Array => encoder.encode(value);

export class DecodeError extends Error {}

/** msgpack, with every string, binary, array and map bounded before it is built. */
export function safeDecode(bytes: Uint8Array, maxBinLength = 65_536): unknown {
  try {
    return decode(bytes, {
      maxStrLength: 65_536,
      maxBinLength,
      maxArrayLength: 4096,
      maxMapLength: 4096,
    });
  } catch (error) {
    throw new DecodeError(`msgpack: ${messageOf(error)}`);
  }
}

export const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

export function count(value: unknown, what: string): number {
  if (!isCount(value)) throw new DecodeError(`${what}: expected a non-negative integer`);
  return value;
}

/** A non-negative integer up to `max`. */
export function bounded(value: unknown, what: string, max: number): number {
  if (!isCount(value) || value > max) throw new DecodeError(`${what}: expected an integer from 0 to ${max}`);
  return value;
}

export function port(value: unknown, what: string): number {
  if (!isCount(value) || value > 65535) throw new DecodeError(`${what}: expected a port`);
  return value;
}

export function text(value: unknown, what: string, maxLength: number, allowEmpty = false): string {
  if (typeof value !== 'string' || value.length > maxLength || (!allowEmpty && value.length === 0)) {
    throw new DecodeError(`${what}: expected a string of 1-${maxLength} characters`);
  }
  return value;
}

export function id(value: unknown, what: string): string {
  return text(value, what, 64);
}

export function stringList(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || value.length > 1024) throw new DecodeError(`${what}: expected a list`);
  return value.map((item) => text(item, what, 255));
}

/** A msgpack array of at most `maxLength` items. */
export function list(value: unknown, what: string, maxLength: number): unknown[] {
  if (!Array.isArray(value) || value.length > maxLength)
    throw new DecodeError(`${what}: expected a list of at most ${maxLength}`);
  return value as unknown[];
}
