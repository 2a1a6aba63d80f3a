// `opsbro kv` against a real agent: put from an argument and from stdin (bytes kept as they are),
// get (the bare value; a missing key exits 1), list, a CAS conflict refused with exit 1, delete,
// and watch printing the value now and at each change until it is interrupted.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanupAll,
  OPSBRO_BIN,
  prepareAgentDirs,
  runCli,
  startAgent,
  WITHOUT_PACKS,
} from '../helpers/agent-process.js';

afterAll(cleanupAll);

describe('opsbro kv', () => {
  let api: string;
  beforeAll(async () => {
    const dirs = await prepareAgentDirs(`node_name: kv-cli\n${WITHOUT_PACKS}`);
    await startAgent(dirs);
    api = `unix:${join(dirs.dataDir, 'api.sock')}`;
  });
  const kv = (...args: string[]) => runCli(['kv', ...args, '--api', api]);

  it('puts, gets, lists, refuses a stale CAS and deletes', () => {
    expect(kv('put', 'app/greeting', 'hello').stdout).toMatch(/^stored app\/greeting \(index \d+\)\n$/);
    // Bytes from stdin, not valid UTF-8: they come back as they went in.
    const bytes = Buffer.from([0xff, 0x00, 0x41, 0x0a, 0xfe]);
    const piped = spawnSync(process.execPath, [OPSBRO_BIN, 'kv', 'put', 'app/blob', '-', '--api', api], {
      input: bytes,
      env: { ...process.env, OPSBRO_API: '', OPSBRO_TOKEN: '' },
    });
    expect(piped.status).toBe(0);
    const got = spawnSync(process.execPath, [OPSBRO_BIN, 'kv', 'get', 'app/blob', '--api', api], {
      env: { ...process.env, OPSBRO_API: '', OPSBRO_TOKEN: '' },
    });
    expect(Buffer.compare(got.stdout, bytes)).toBe(0);
    expect(kv('get', 'app/greeting').stdout).toBe('hello');
    expect(kv('list', 'app/').stdout).toBe('app/blob\napp/greeting\n');

    const record = JSON.parse(kv('get', 'app/greeting', '--json').stdout) as { modify_index: number };
    const conflict = kv('put', 'app/greeting', 'late', '--cas', String(record.modify_index - 1));
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toContain('compare-and-set refused');
    expect(kv('put', 'app/greeting', 'on time', '--cas', String(record.modify_index)).code).toBe(0);
    expect(kv('get', 'app/greeting').stdout).toBe('on time');

    expect(kv('delete', 'app/greeting').code).toBe(0);
    const missing = kv('get', 'app/greeting');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no key app/greeting');
  });

  it('watch prints the value now and at each change', async () => {
    kv('put', 'svc/leader', 'node-a');
    const watcher = spawn(
      process.execPath,
      [OPSBRO_BIN, 'kv', 'watch', 'svc/leader', '--json', '--api', api],
      {
        env: { ...process.env, OPSBRO_API: '', OPSBRO_TOKEN: '' },
      },
    );
    const lines: Array<{ text?: string; deleted?: boolean }> = [];
    let buffered = '';
    watcher.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
        lines.push(JSON.parse(buffered.slice(0, end)) as { text?: string });
        buffered = buffered.slice(end + 1);
      }
    });
    try {
      await expect.poll(() => lines.length, { timeout: 10_000 }).toBe(1);
      kv('put', 'svc/leader', 'node-b');
      await expect.poll(() => lines.length, { timeout: 10_000 }).toBe(2);
      kv('delete', 'svc/leader');
      await expect.poll(() => lines.length, { timeout: 10_000 }).toBe(3);
      kv('put', 'svc/leader', 'node-c');
      await expect.poll(() => lines.length, { timeout: 10_000 }).toBe(4);
      expect(lines.map((line) => line.text ?? (line.deleted ? 'deleted' : '?'))).toEqual([
        'node-a',
        'node-b',
        'deleted',
        'node-c',
      ]);
    } finally {
      watcher.kill('SIGTERM');
    }
  });
});
