// Bash completion as a shell runs it: `opsbro completion bash` sourced, COMP_WORDS set to the words
// typed, the completion function called; what it offers, one word each.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import { OPSBRO_BIN } from './agent-process.js';

/** The words bash completion offers after `words` (the last one being completed). */
export function bashComplete(words: string[], env: Record<string, string> = {}): string[] {
  const script = [
    `opsbro() { node ${JSON.stringify(OPSBRO_BIN)} "$@"; }`,
    'source <(opsbro completion bash)',
    `COMP_WORDS=(${words.map((word) => JSON.stringify(word)).join(' ')})`,
    `COMP_CWORD=${words.length - 1}`,
    '_opsbro_complete',
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');
  const result = spawnSync('bash', ['-c', script], {
    encoding: 'utf8',
    // The repository: file and directory completions are tried against its files.
    cwd: join(OPSBRO_BIN, '..', '..'),
    env: { ...process.env, OPSBRO_API: '', ...env },
  });
  expect(result.stderr).toBe('');
  return result.stdout.split('\n').filter(Boolean);
}
