// API authentication: bearer tokens from `auth.tokens`. Compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';

export interface ApiToken {
  name: string;
  token: string;
}

export class TokenAuthenticator {
  private readonly digests: Array<{ name: string; digest: Buffer }>;

  constructor(tokens: ApiToken[]) {
    // Hash first so every comparison has the same length and takes the same time.
    this.digests = tokens.map(({ name, token }) => ({ name, digest: sha256(token) }));
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** The token's name for a valid `Authorization: Bearer <token>` header, else undefined. */
  authenticate(header: string | undefined): string | undefined {
    const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!match) return undefined;
    const offered = sha256(match[1]!);
    let name: string | undefined;
    for (const candidate of this.digests) {
      if (timingSafeEqual(candidate.digest, offered)) name ??= candidate.name;
    }
    return name;
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

export { isLoopback } from '../config/addresses.js';
