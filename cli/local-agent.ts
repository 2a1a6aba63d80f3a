// Reaching the local agent's admin routes with no setup, without ever handing its secrets to a
// stranger. Two ways, both only through files that only root or this user could have made:
// - its unix socket, <data-dir>/api.sock (mode 0600): used by default when no --api is given;
// - its local token, <data-dir>/local-token (0600): sent over TCP for one refused request, once
//   the agent there proved it holds that token (an HMAC of a nonce and of the address reached),
//   so a process squatting the port, or relaying to the agent from another port, never gets it.
// A data dir counts only when it belongs to root or to this user and nobody else may write to it,
// and a file in it only when it has the same owner: a path an answer names is never trusted as is.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { localTokenProof } from '../agent/shared/local-token-proof.js';
import { defaultDataDir } from '../agent/shared/paths.js';
import type { AgentClient } from './client.js';

/** A local token is 43 base64url characters; anything longer is not one. */
const MAX_TOKEN_BYTES = 128;

/** The data dir the CLI looks in first: $OPSBRO_DATA_DIR, else the agent's default one. */
export function localDataDir(): string {
  return process.env.OPSBRO_DATA_DIR || defaultDataDir();
}

/** `<dir>/api.sock` when it is the socket of an agent of root or of this user, else undefined. */
export function localSocket(dir: string): string | undefined {
  if (!trustedDir(dir)) return undefined;
  const path = join(dir, 'api.sock');
  const stats = lstatOrUndefined(path);
  return stats?.isSocket() && ownedByUs(stats) ? path : undefined;
}

/**
 * The local token of the agent `client` talks to: read from $OPSBRO_DATA_DIR or from the data dir
 * the agent named, and returned only once the agent proved it holds that very token.
 */
export async function provenLocalToken(
  client: AgentClient,
  namedDataDir: string,
): Promise<string | undefined> {
  for (const dir of new Set([process.env.OPSBRO_DATA_DIR, namedDataDir].filter(Boolean) as string[])) {
    const token = readToken(dir);
    if (token && (await agentHolds(client, token))) return token;
  }
  return undefined;
}

function trustedDir(dir: string): boolean {
  const stats = lstatOrUndefined(dir);
  return Boolean(stats?.isDirectory() && ownedByUs(stats) && (stats.mode & 0o022) === 0);
}

/** lstat, or undefined when the path is missing or this user may not look (EACCES). */
function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function ownedByUs(stats: Stats): boolean {
  return stats.uid === 0 || stats.uid === process.getuid?.();
}

/**
 * The token file's content, read only if it is a small regular file of root or this user that
 * nobody else can read (a named pipe or /dev/zero planted under that name is never read).
 */
function readToken(dir: string): string | undefined {
  if (!trustedDir(dir)) return undefined;
  let fd: number;
  try {
    fd = openSync(join(dir, 'local-token'), constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch {
    return undefined; // not this user's to read: the command stays read-only
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile() || !ownedByUs(stats) || (stats.mode & 0o077) !== 0 || stats.size > MAX_TOKEN_BYTES)
      return undefined;
    const buffer = Buffer.alloc(MAX_TOKEN_BYTES);
    const length = readSync(fd, buffer, 0, MAX_TOKEN_BYTES, 0);
    return buffer.subarray(0, length).toString('utf8').trim() || undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

async function agentHolds(client: AgentClient, token: string): Promise<boolean> {
  const nonce = randomBytes(16).toString('hex');
  const reply = await client.send('POST', '/agent/auth/proof', JSON.stringify({ nonce }), undefined);
  const proof = (reply.parsed as { proof?: unknown } | undefined)?.proof;
  if (reply.status !== 200 || typeof proof !== 'string') return false;
  const expected = Buffer.from(localTokenProof(token, nonce, reply.reachedAt));
  const offered = Buffer.from(proof);
  return offered.length === expected.length && timingSafeEqual(offered, expected);
}
