// Finding the agent's local admin token (<data-dir>/local-token) for a command that needs the admin
// role, and checking that the agent we talk to holds it before sending it: a process squatting on
// the API port while the agent is down, or relaying to it from another port, must not collect it.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { localTokenProof } from '../agent/api/local-token-proof.js';
import type { AgentClient } from './client.js';

/**
 * The local token of the agent `client` talks to, or undefined: read from OPSBRO_DATA_DIR, else from
 * the data dir the agent named, and used only once the agent proved it holds that very token.
 */
export async function findLocalToken(
  client: AgentClient,
  hint: { dataDir: string },
): Promise<string | undefined> {
  const dirs = [process.env.OPSBRO_DATA_DIR, hint.dataDir].filter((dir): dir is string => Boolean(dir));
  for (const dir of new Set(dirs)) {
    const token = readToken(join(dir, 'local-token'));
    if (token && (await agentHolds(client, token))) return token;
  }
  return undefined;
}

function readToken(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch {
    return undefined; // not this user's to read: the command stays read-only
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
