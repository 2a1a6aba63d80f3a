// `opsbro kv get|put|delete|list|watch`: the cluster's KV store through the local agent (the
// seed's /kv/ routes). `get` prints the bare value, as `consul kv get` does; `put KEY -` reads the
// value from stdin; `watch KEY` prints each change, with blocking queries.
import { Command, InvalidArgumentError } from 'commander';
import { type ReadOptions, withApiOptions, withJson } from '../api-options.js';
import { AgentClient } from '../client.js';
import { CliError, EXIT_ERROR } from '../errors.js';
import { colour, printJson, printJsonLine } from '../output.js';

/** A record as the seed's /kv/ routes answer it. */
interface KvRecordAnswer {
  key: string;
  value: string;
  flags: number;
  create_index: number;
  modify_index: number;
  lock_index: number;
  expires_at?: string;
}

interface WriteAnswer {
  ok: boolean;
  key: string;
  index: number;
}

/** How long one blocking query waits before asking again (the agent's limit is 10 min). */
const WATCH_WAIT = '5m';
const WATCH_TIMEOUT_MS = 5 * 60_000 + 30_000;

export function kvCommand(): Command {
  const kv = new Command('kv').description("the cluster's key-value store");

  withJson(
    withApiOptions(
      kv
        .command('get')
        .description('print the value of KEY (--json: the whole record)')
        .argument('<key>')
        .option('--consistent', 'read from a majority of the replicas'),
    ),
  ).action(async (key: string, options: ReadOptions & { consistent?: boolean }) => {
    const record = await new AgentClient(options).get<KvRecordAnswer>(
      `/kv/${pathOf(key)}${options.consistent ? '?consistent' : ''}`,
    );
    if (options.json) return printJson(withText(record));
    const value = Buffer.from(record.value, 'base64');
    process.stdout.write(value);
    if (process.stdout.isTTY && value.length && value.at(-1) !== 0x0a) process.stdout.write('\n');
  });

  withJson(
    withApiOptions(
      kv
        .command('put')
        .description('store VALUE under KEY (- reads the value from stdin)')
        .argument('<key>')
        .argument('<value>', 'the value, or - for stdin')
        .option('--flags <n>', 'a number kept with the value (Consul flags)', wholeNumber)
        .option('--ttl <duration>', 'the key expires after this long (30s, 5m, 1h)')
        .option(
          '--cas <index>',
          'only if the key is still at this modify index (0: only if absent)',
          wholeNumber,
        ),
    ),
  ).action(
    async (
      key: string,
      value: string,
      options: ReadOptions & { flags?: number; ttl?: string; cas?: number },
    ) => {
      const body = value === '-' ? await readStdin() : Buffer.from(value);
      const query = new URLSearchParams();
      if (options.flags !== undefined) query.set('flags', String(options.flags));
      if (options.ttl !== undefined) query.set('ttl', options.ttl);
      if (options.cas !== undefined) query.set('cas', String(options.cas));
      const answer = await new AgentClient(options).call<WriteAnswer>(
        'PUT',
        `/kv/${pathOf(key)}${query.size ? `?${query.toString()}` : ''}`,
        body,
      );
      if (options.json) return printJson(answer);
      process.stdout.write(`stored ${key} (index ${answer.index})\n`);
    },
  );

  withJson(
    withApiOptions(
      kv
        .command('delete')
        .description('delete KEY (--recurse: every key under it)')
        .argument('<key>')
        .option('--cas <index>', 'only if the key is still at this modify index', wholeNumber)
        .option('--recurse', 'delete every key that starts with KEY'),
    ),
  ).action(async (key: string, options: ReadOptions & { cas?: number; recurse?: boolean }) => {
    const client = new AgentClient(options);
    if (options.recurse) {
      // Consul's dialect has the recursive delete.
      await client.call<boolean>('DELETE', `/v1/kv/${pathOf(key)}?recurse`);
      if (options.json) return printJson({ ok: true, prefix: key });
      return void process.stdout.write(`deleted every key under ${key}\n`);
    }
    const answer = await client.call<WriteAnswer>(
      'DELETE',
      `/kv/${pathOf(key)}${options.cas !== undefined ? `?cas=${options.cas}` : ''}`,
    );
    if (options.json) return printJson(answer);
    process.stdout.write(`deleted ${key} (index ${answer.index})\n`);
  });

  withJson(
    withApiOptions(
      kv
        .command('list')
        .description("the cluster's keys that start with PREFIX (all without one)")
        .argument('[prefix]', 'the keys to list start with this', ''),
    ),
  ).action(async (prefix: string, options: ReadOptions) => {
    const keys = await new AgentClient(options).get<string[]>(
      `/kv/?keys&prefix=${encodeURIComponent(prefix)}`,
    );
    if (options.json) return printJson(keys);
    process.stdout.write(keys.map((key) => `${key}\n`).join(''));
  });

  withJson(
    withApiOptions(
      kv
        .command('watch')
        .description('print the value of KEY now and at each change, until interrupted')
        .argument('<key>'),
    ),
  ).action(async (key: string, options: ReadOptions) => {
    const client = new AgentClient(options);
    let index: number | undefined;
    for (;;) {
      // The first read answers at once (the state now); the next ones block until a change.
      const query = index === undefined ? '' : `?index=${index}&wait=${WATCH_WAIT}`;
      const reply = await client.send(
        'GET',
        `/kv/${pathOf(key)}${query}`,
        undefined,
        options.token,
        WATCH_TIMEOUT_MS,
      );
      const body = reply.parsed as (KvRecordAnswer & { index?: number; error?: string }) | undefined;
      if (reply.status === 503) {
        // Too few replicas answered (a node failing over): ask again shortly.
        await new Promise((resolve) => setTimeout(resolve, 1000));
        continue;
      }
      if (reply.status !== 200 && reply.status !== 404)
        throw new CliError(body?.error ?? `HTTP ${reply.status}`, EXIT_ERROR, { http_status: reply.status });
      const record = reply.status === 200 ? body : undefined;
      // A 404 says the index of the delete (0: the key never existed).
      const seen = record ? record.modify_index : (body?.index ?? 0);
      if (index !== undefined && seen <= index) continue; // the wait ended without a change
      if (options.json) printJsonLine(record ? withText(record) : { key, deleted: true, index: seen });
      else if (record) process.stdout.write(`${Buffer.from(record.value, 'base64').toString()}\n`);
      else process.stdout.write(`${colour.dim(seen ? `${key} deleted` : `${key} is absent; waiting`)}\n`);
      index = seen;
    }
  });
  return kv;
}

/** The record with the value as text too, when it is UTF-8 (`value` stays base64). */
function withText(record: KvRecordAnswer): KvRecordAnswer & { text?: string } {
  const bytes = Buffer.from(record.value, 'base64');
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? { ...record, text } : record;
}

/** A key as a URL path: each segment encoded, the slashes kept. */
function pathOf(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

function wholeNumber(value: string): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(number))
    throw new InvalidArgumentError('expected a whole number');
  return number;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}
