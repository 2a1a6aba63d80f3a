// The local-token proof, shared by the agent (which answers it) and the CLI (which checks it before
// it sends the token): the HMAC-SHA256, keyed by the token, of the client's nonce and of the agent
// address the client reached (`127.0.0.1:6768`, or `unix:`). Imports nothing: the CLI loads it.
import { createHmac } from 'node:crypto';

export function localTokenProof(token: string, nonce: string, reachedAt: string): string {
  return createHmac('sha256', token).update(`opsbro local-token proof\n${nonce}\n${reachedAt}`).digest('hex');
}
