// API authentication: bearer tokens from `auth.tokens` (each with a role) and the agent's local
// admin token (<data-dir>/local-token). Compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import { localTokenProof } from '../shared/local-token-proof.js';
import type { Principal, Role } from '../shared/http.js';

export interface ApiToken {
  name: string;
  token: string;
  /** admin unless the operator says read. */
  role?: Role;
}

/** The principal of a request that carries the local token. */
export const LOCAL_TOKEN_PRINCIPAL: Principal = { name: 'local-token', role: 'admin' };

export class TokenAuthenticator {
  private readonly digests: Array<{ principal: Principal; digest: Buffer }>;

  constructor(
    tokens: ApiToken[],
    /** The local admin token; undefined when the agent has none (tests of the API alone). */
    private readonly localToken?: string,
  ) {
    // Hash first so every comparison has the same length and takes the same time.
    this.digests = tokens.map(({ name, token, role }) => ({
      principal: { name: `token:${name}`, role: role ?? 'admin' },
      digest: sha256(token),
    }));
    if (localToken) this.digests.push({ principal: LOCAL_TOKEN_PRINCIPAL, digest: sha256(localToken) });
  }

  /** Whether the operator configured tokens (then every TCP request needs one). */
  get required(): boolean {
    return this.digests.some((entry) => entry.principal !== LOCAL_TOKEN_PRINCIPAL);
  }

  /**
   * The principal of a valid `Authorization: Bearer <token>` header; null when the header is
   * absent; undefined when it is present but not a known token.
   */
  authenticate(header: string | undefined): Principal | null | undefined {
    if (header === undefined) return null;
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) return undefined;
    const offered = sha256(match[1]!);
    let found: Principal | undefined;
    for (const candidate of this.digests) {
      if (timingSafeEqual(candidate.digest, offered)) found ??= candidate.principal;
    }
    return found;
  }

  /**
   * Proves to a local client that this agent holds the local token, without revealing it: the
   * HMAC of the client's nonce and of the address the client reached. A relay (another process on
   * another port asking us for a proof to pass on) gets a proof for our address, not its own, so
   * the CLI never hands the token to a stranger squatting on a port (see cli/local-token.ts).
   */
  localTokenProof(nonce: string, reachedAt: string): string | undefined {
    return this.localToken ? localTokenProof(this.localToken, nonce, reachedAt) : undefined;
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
