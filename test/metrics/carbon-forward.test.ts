// graphite.forward against a real carbon-cache (Debian's graphite-carbon, in the foreground on a
// free port, its whisper files read back with whisper-fetch): points taken while carbon is down
// wait in the queue and reach it once it is up; a queue over graphite.forward_queue drops the
// oldest and counts them.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { AgentSettingsSchema, type AgentSettings } from '../../agent/config/index.js';
import { SchemaValidator } from '../../agent/config/validate.js';
import { EventBus } from '../../agent/events/index.js';
import { Logger } from '../../agent/log/index.js';
import { MetricsSubsystem } from '../../agent/metrics/index.js';
import { openStore, type Store } from '../../agent/store/index.js';
import { CARBON_CACHE, carbonConfig, carbonListening } from '../../bench/metrics/carbon-config.js';
import { cleanupAll, freePort, tempDir } from '../helpers/agent-process.js';
import { describeWhenAvailable, notInstalled } from '../helpers/requirements.js';

const validator = new SchemaValidator(AgentSettingsSchema);
const running: MetricsSubsystem[] = [];
const stores: Store[] = [];
const carbons: ChildProcess[] = [];

afterEach(async () => {
  for (const metrics of running.splice(0)) await metrics.stop();
  for (const store of stores.splice(0)) await store.close();
  for (const carbon of carbons.splice(0)) carbon.kill('SIGKILL');
  cleanupAll();
});

function carbonMissing(): string | undefined {
  if (!existsSync(CARBON_CACHE)) return notInstalled('carbon-cache', 'graphite-carbon');
  if (spawnSync('whisper-fetch', ['--help']).error) return notInstalled('whisper-fetch', 'python3-whisper');
  return undefined;
}

/** carbon-cache in the foreground, its line receiver on `port`; resolves once it listens. */
async function startCarbon(port: number): Promise<{ whisperDir: string }> {
  const root = tempDir('opsbro-carbon-');
  const ports = { line: port, pickle: await freePort(), query: await freePort() };
  const { args, whisperDir } = carbonConfig(root, ports, '10s:6h');
  const carbon = spawn(CARBON_CACHE, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  carbons.push(carbon);
  let output = '';
  carbon.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  carbon.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await expect.poll(() => output, { timeout: 20_000 }).toContain(carbonListening(port));
  return { whisperDir };
}

/** The known values of a whisper file, as whisper-fetch prints them. */
function whisperValues(file: string, fromSeconds: number): number[] {
  if (!existsSync(file)) return [];
  const fetched = spawnSync('whisper-fetch', [`--from=${fromSeconds}`, file], { encoding: 'utf8' });
  return fetched.stdout
    .split('\n')
    .map((line) => line.split('\t')[1])
    .filter((value): value is string => value !== undefined && value !== 'None')
    .map(Number);
}

async function start(forwardPort: number, queue = 100_000) {
  const store = await openStore(tempDir('opsbro-forward-'));
  stores.push(store);
  const metrics = new MetricsSubsystem({
    settings: validator.withDefaults<AgentSettings>({
      statsd: { enabled: false },
      graphite: { port: 0, forward: [`127.0.0.1:${forwardPort}`], forward_queue: queue },
    }),
    store,
    events: new EventBus(),
    logger: Logger.create({ level: 'error', format: 'text', sink: { kind: 'fd', fd: 2 } }),
    timers: false,
  });
  await metrics.start();
  running.push(metrics);
  return metrics;
}

describeWhenAvailable('forwarding to carbon', carbonMissing(), () => {
  it('queues while carbon is down, and delivers once it is up', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const metrics = await start(port);
    const now = Math.floor(Date.now() / 1000);
    const first = now - (now % 10) - 100;
    for (let i = 0; i < 5; i++) metrics.ingestGraphiteLine(`fwd.test ${i + 1} ${first + i * 10}`);
    expect(metrics.statistics().forward).toEqual([
      { target: `127.0.0.1:${port}`, connected: false, queued: 5, sent: 0, dropped: 0 },
    ]);
    const { whisperDir } = await startCarbon(port);
    await expect
      .poll(() => whisperValues(join(whisperDir, 'fwd', 'test.wsp'), first - 10), {
        timeout: 30_000,
        interval: 500,
      })
      .toEqual([1, 2, 3, 4, 5]);
    expect(metrics.statistics().forward[0]).toMatchObject({
      connected: true,
      queued: 0,
      sent: 5,
      dropped: 0,
    });
  });

  it('keeps at most graphite.forward_queue points per server, the newest', async () => {
    const metrics = await start(await freePort(), 100);
    const now = Math.floor(Date.now() / 1000);
    for (let i = 0; i < 1000; i++) metrics.ingestGraphiteLine(`fwd.many.s${i} ${i} ${now}`);
    expect(metrics.statistics().forward[0]).toMatchObject({ queued: 100, dropped: 900, sent: 0 });
  });
});
