// Issue 10, against a real agent process: 200 concurrent `grep_file('^(a+)+$', FILE, True)` over
// the API made ~97 threads and 660 MB, and /agent/state took 10.9 s (peers declared the node dead).
// Now each caller has 4 evaluations in flight at most (429 beyond), a full regexp queue answers
// 503, the agent's threads grow by the pool's 2 workers at most, /agent/state answers at once all
// along, and the workers are gone once the pool has been idle.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  cleanupAll,
  httpGet,
  type HttpReply,
  prepareAgentDirs,
  startAgent,
  WITHOUT_PACKS,
} from '../helpers/agent-process.js';
import { threadCount, waitFor } from './helpers.js';

afterAll(cleanupAll);

const CALLS = 200;

function rssBytes(pid: number): number {
  const line = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(line?.[1] ?? 0) * 1024;
}

describe('a flood of catastrophic regexps over the API', () => {
  it('gets 429 and 503 for the excess, with bounded threads and memory, and the agent keeps answering', async () => {
    const dirs = await prepareAgentDirs(
      `${WITHOUT_PACKS}evaluator:\n  regexp: {workers: 2, queue_jobs: 2, timeout_ms: 300, idle_s: 1}\n`,
    );
    const file = join(dirs.root, 'long.txt');
    writeFileSync(file, `${'a'.repeat(40)}!\n`);
    const agent = await startAgent(dirs);
    const pid = agent.process.pid!;
    const base = `http://127.0.0.1:${dirs.port}`;
    const socket = `unix:${join(dirs.dataDir, 'api.sock')}:`;
    const token = readFileSync(join(dirs.dataDir, 'local-token'), 'utf8').trim();
    const evaluate = (viaSocket: boolean, expression: string): Promise<HttpReply> =>
      httpGet(`${viaSocket ? socket : base}/agent/evaluator/eval`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(viaSocket ? {} : { authorization: `Bearer ${token}` }),
        },
        body: JSON.stringify({ expression }),
      });

    // libuv's threads start with the agent's first file reads: the baseline counts them.
    expect((await evaluate(false, `grep('a', '${file}')`)).body).toContain('"value":true');
    const baselineThreads = threadCount(pid);
    const baselineRss = rssBytes(pid);

    let flooding = true;
    let maxThreads = 0;
    let maxRss = 0;
    const stateLatenciesMs: number[] = [];
    const sampler = setInterval(() => {
      maxThreads = Math.max(maxThreads, threadCount(pid));
      maxRss = Math.max(maxRss, rssBytes(pid));
    }, 20);
    // One probe at a time, as a peer's or an operator's would be.
    const prober = (async () => {
      while (flooding) {
        const startedMs = Date.now();
        const reply = await httpGet(`${base}/agent/state`);
        stateLatenciesMs.push(Date.now() - startedMs);
        expect(reply.status).toBe(200);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();

    const expression = `grep_file('^(a+)+$', '${file}', True)`;
    // Two callers (the local token over TCP, the unix socket): 4 evaluations in flight each.
    const replies = await Promise.all(
      Array.from({ length: CALLS }, (_, index) => evaluate(index % 2 === 1, expression)),
    );
    flooding = false;
    await prober;
    clearInterval(sampler);

    const count = (status: number) => replies.filter((reply) => reply.status === status).length;
    const [ran, tooMany, busy] = [count(422), count(429), count(503)];
    console.info(
      `regexp flood: ${ran} x 422, ${tooMany} x 429, ${busy} x 503; threads ${baselineThreads} -> max ${maxThreads}; ` +
        `RSS ${(baselineRss / 2 ** 20).toFixed(0)} -> max ${(maxRss / 2 ** 20).toFixed(0)} MiB; ` +
        `/agent/state max ${Math.max(...stateLatenciesMs)} ms over ${stateLatenciesMs.length} probes`,
    );
    expect(ran + tooMany + busy).toBe(CALLS);
    expect(tooMany).toBeGreaterThanOrEqual(150);
    expect(busy).toBeGreaterThanOrEqual(1);
    expect(ran).toBeGreaterThanOrEqual(2);
    const ranReply = replies.find((reply) => reply.status === 422)!;
    expect(JSON.parse(ranReply.body)).toMatchObject({
      error: expect.stringContaining('the regular expression ran longer than 300 ms') as unknown,
    });
    const tooManyReply = replies.find((reply) => reply.status === 429)!;
    expect(JSON.parse(tooManyReply.body)).toMatchObject({
      error: expect.stringMatching(
        /too many evaluations in flight for (local-token|unix-socket) \(limit 4/,
      ) as unknown,
    });
    expect(JSON.parse(replies.find((reply) => reply.status === 503)!.body)).toMatchObject({
      error: expect.stringContaining('the regular-expression workers are busy') as unknown,
    });
    expect(maxThreads - baselineThreads).toBeLessThanOrEqual(3);
    expect(maxRss).toBeLessThan(400 * 2 ** 20);
    expect(Math.max(...stateLatenciesMs)).toBeLessThan(1000);

    // Idle for idle_s: the workers go, the agent is back to its baseline threads.
    await waitFor(() => threadCount(pid) <= baselineThreads, 'the idle workers exit', 10_000);
  });
});
