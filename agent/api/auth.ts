// API authentication: bearer tokens from `auth.tokens`. Compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

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

/** 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach. */
export function isLoopback(address: string): boolean {
  if (address === 'localhost' || address === '::1') return true;
  return isIP(address) === 4 && address.startsWith('127.');
}

/**
 * DESIGN.md: binding a listener beyond loopback requires authentication. Returns the operator
 * message when the settings break that rule.
 */
export function listenerSecurityProblem(
  listener: string,
  bind: string,
  tokens: ApiToken[],
): string | undefined {
  if (isLoopback(bind) || tokens.length > 0) return undefined;
  return (
    `${listener} would listen on ${bind}, beyond loopback, without authentication: ` +
    `add a token under auth.tokens (name and a secret of 16+ characters) or bind to 127.0.0.1`
  );
}
