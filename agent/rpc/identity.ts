// The node's cluster RPC identity: an Ed25519 key kept in <data-dir>/rpc-identity.key, created on
// the first start and reused after, so the libp2p peer id that gossip advertises stays the same
// across restarts. Stored in libp2p's protobuf key encoding, mode 0600, never through a symlink.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { Ed25519PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';

export const IDENTITY_FILE_NAME = 'rpc-identity.key';

/** A protobuf-encoded Ed25519 key is 68 bytes; anything far larger is not one of ours. */
const MAX_IDENTITY_FILE_BYTES = 4096;

export interface RpcIdentity {
  privateKey: Ed25519PrivateKey;
  /** The libp2p peer id derived from the key (base58, "12D3KooW..."). */
  peerId: string;
  /** Where the key is kept. */
  path: string;
  /** True when this call created the key. */
  created: boolean;
}

export class IdentityFileError extends Error {
  override readonly name = 'IdentityFileError';
}

export async function loadOrCreateIdentity(dataDir: string): Promise<RpcIdentity> {
  const path = join(dataDir, IDENTITY_FILE_NAME);
  const existing = await readIdentityFile(path);
  if (existing) return toIdentity(parseKey(existing, path), path, false);
  const privateKey = await generateKeyPair('Ed25519');
  await writeIdentityFile(path, privateKeyToProtobuf(privateKey));
  return toIdentity(privateKey, path, true);
}

function toIdentity(privateKey: Ed25519PrivateKey, path: string, created: boolean): RpcIdentity {
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString(), path, created };
}

/** The file's bytes, or undefined when there is no file yet. */
async function readIdentityFile(path: string): Promise<Uint8Array | undefined> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') {
      throw new IdentityFileError(
        `${path} is a symbolic link; refusing to follow it. Replace it with the key file itself`,
      );
    }
    throw new IdentityFileError(
      `cannot read the cluster RPC identity key ${path}: ${(error as Error).message}`,
    );
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile())
      throw new IdentityFileError(`${path} is not a regular file; remove it to create a new identity`);
    const uid = process.getuid?.();
    if (uid !== undefined && stat.uid !== uid) {
      throw new IdentityFileError(
        `${path} belongs to uid ${stat.uid}, not to the agent's user (uid ${uid}); chown it to the agent's user`,
      );
    }
    if (stat.mode & 0o077) {
      // Like ssh with a private key: another user may have read it, so say so instead of using it.
      throw new IdentityFileError(
        `${path} is accessible to other users (mode ${(stat.mode & 0o777).toString(8)}); run chmod 600 ${path}`,
      );
    }
    if (stat.size > MAX_IDENTITY_FILE_BYTES) {
      throw new IdentityFileError(
        `${path} is ${stat.size} bytes, too large for an identity key; remove it to create a new one`,
      );
    }
    const bytes = await handle.readFile();
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } finally {
    await handle.close();
  }
}

function parseKey(bytes: Uint8Array, path: string): Ed25519PrivateKey {
  let key;
  try {
    key = privateKeyFromProtobuf(bytes);
  } catch (error) {
    throw new IdentityFileError(
      `${path} is not a libp2p private key (${(error as Error).message}); restore it from a backup, or remove it to create a new peer id`,
    );
  }
  if (key.type !== 'Ed25519') {
    throw new IdentityFileError(
      `${path} holds a ${key.type} key, expected Ed25519; remove it to create a new one`,
    );
  }
  return key;
}

/** Writes a temporary file (O_EXCL|O_NOFOLLOW, 0600), syncs it, and renames it into place. */
async function writeIdentityFile(path: string, bytes: Uint8Array): Promise<void> {
  const temporary = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  try {
    const handle = await open(temporary, flags, 0o600);
    try {
      await handle.chmod(0o600); // whatever the umask
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw new IdentityFileError(
      `cannot create the cluster RPC identity key ${path}: ${(error as Error).message}; check the data dir's permissions`,
    );
  }
}
