// The celery check (`type: celery`, Platus' celery_worker): every Celery worker pinged through the
// AMQP broker as `celery inspect ping` does it (Celery's remote control, agent/checks/celery/pidbox.ts),
// the replies collected for `reply_timeout`: CRITICAL when fewer than `min_workers` answer, when a
// worker of `workers` does not, when the broker cannot be reached or refuses the login (saying
// which) or blocks publishers (a memory or disk alarm); OK naming the workers that answered. One
// item per worker expected or answering (Platus reports one service per worker). One connection per
// check, kept between runs and opened again after a failure; the AMQP client (amqplib) is loaded at
// the first run, not at start.
import { Type, type Static } from '@sinclair/typebox';
import type { ChannelModel } from 'amqplib';
import { DurationSchema, parseDurationMs } from '../../config/index.js';
import { raceAbort } from '../../shared/abort.js';
import { parseBrokerUrl, withoutPassword, type BrokerAddress } from '../celery/broker-url.js';
import { LamportClock, MAILBOX_EXCHANGE, pingWorkers, type PingOutcome } from '../celery/pidbox.js';
import type {
  CheckItem,
  CheckResult,
  CheckRunContext,
  CheckRunner,
  CheckSpec,
  CheckType,
  PerfDatum,
} from '../check-type.js';

export const CeleryCheckSchema = Type.Object(
  {
    broker: Type.String({
      minLength: 1,
      description: 'the AMQP broker the workers use: amqp://user:password@host:5672/vhost',
    }),
    workers: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        description: 'workers that must answer, by node name (celery@web1)',
      }),
    ),
    min_workers: Type.Optional(
      Type.Integer({ minimum: 0, description: 'how many workers must answer at least, default 1' }),
    ),
    reply_timeout: Type.Optional(DurationSchema()),
  },
  { additionalProperties: true },
);
type CeleryBody = Static<typeof CeleryCheckSchema>;

export const CELERY_CHECK_TYPE: CheckType = {
  type: 'celery',
  description: "Celery workers' answers to a ping through their AMQP broker (celery inspect ping)",
  schema: CeleryCheckSchema,
  create: (spec) => new CeleryRunner(spec),
};

/** `celery inspect ping`'s default wait for replies. */
const DEFAULT_REPLY_TIMEOUT_MS = 1000;
/** Left of the run's time after the wait, to cancel the consumer and close the channel. */
const MAX_MARGIN_MS = 500;
/** How long a connection's close may wait for the broker's answer before its socket is destroyed. */
const CLOSE_WAIT_MS = 1000;

class CeleryRunner implements CheckRunner {
  private readonly broker: BrokerAddress;
  private readonly expected: string[];
  private readonly minWorkers: number;
  private readonly replyTimeoutMs: number;
  private readonly clock = new LamportClock();
  private connection?: ChannelModel;
  /** Why the broker blocks this connection's publishing (a memory or disk alarm), while it does. */
  private blocked?: string;
  /** Ends the run in progress when the broker blocks the connection. */
  private onBlocked?: () => void;
  /** The close of the kept connection, once asked: runs after close() must not open another. */
  private closed = false;

  constructor(private readonly spec: CheckSpec) {
    const body = spec.body as CeleryBody;
    this.broker = parseBrokerUrl(body.broker);
    this.expected = [...new Set(body.workers ?? [])];
    this.minWorkers = body.min_workers ?? 1;
    this.replyTimeoutMs =
      body.reply_timeout !== undefined ? parseDurationMs(body.reply_timeout) : DEFAULT_REPLY_TIMEOUT_MS;
  }

  async run(context: CheckRunContext): Promise<CheckResult> {
    const started = performance.now();
    const margin = Math.min(MAX_MARGIN_MS, context.timeoutMs / 10);
    const left = (): number => context.timeoutMs - (performance.now() - started) - margin;
    // A kept connection may have died since the last run without our hearing of it yet (a broker
    // restarted between two heartbeats): its failure is retried once on a new connection.
    for (let attempt = 1; ; attempt++) {
      const reused = this.connection !== undefined;
      let connection: ChannelModel;
      try {
        connection = await this.connect(Math.max(100, left()), context.signal);
      } catch (error) {
        return this.critical(this.connectFailure(error, context.signal));
      }
      // A broker under a memory or disk alarm blocks a connection once it publishes (our ping) and
      // reads nothing more from it: no reply can come, and the run ends there.
      const blocked = new AbortController();
      this.onBlocked = () => blocked.abort(new Error('blocked'));
      const waitMs = Math.max(0, Math.min(this.replyTimeoutMs, left()));
      try {
        if (this.blocked !== undefined) throw new Error('blocked');
        const signal = AbortSignal.any([context.signal, blocked.signal]);
        return this.judge(await pingWorkers(connection, waitMs, this.clock, signal), waitMs);
      } catch (error) {
        const reason = this.blocked;
        if (context.signal.aborted) {
          void this.drop();
          throw error;
        }
        await this.drop();
        if (reason !== undefined)
          return this.critical(
            `the broker blocks publishers (${reason}): the workers cannot be pinged, nor sent tasks`,
          );
        if (reused && attempt === 1) continue;
        return this.critical(`the broker failed the ping: ${this.describe(error)}`);
      } finally {
        this.onBlocked = undefined;
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.drop();
  }

  private async connect(timeoutMs: number, signal: AbortSignal): Promise<ChannelModel> {
    if (this.connection) return this.connection;
    if (this.closed) throw new Error('the check was closed');
    const amqp = await import('amqplib');
    const broker = this.broker;
    const opening = amqp.connect(
      {
        protocol: broker.tls ? 'amqps' : 'amqp',
        hostname: broker.hostname,
        port: broker.port,
        username: broker.username,
        password: broker.password,
        // amqplib unescapes it (a URL's path): give it escaped.
        vhost: encodeURIComponent(broker.vhost),
      },
      {
        timeout: Math.round(timeoutMs),
        clientProperties: { connection_name: `opsbro check ${this.spec.name}` },
      },
    );
    let abandoned = false;
    // Given up on (timed out, the agent stopping): a connection that opens later is closed at once.
    opening.then(
      (late) => {
        if (abandoned) late.close().catch(() => undefined);
      },
      () => undefined,
    );
    const connection = await raceAbort(opening, signal, () => {
      abandoned = true;
    });
    connection.on('error', () => undefined); // 'close' follows: the next run connects again
    connection.on('close', () => {
      if (this.connection === connection) this.connection = undefined;
    });
    connection.on('blocked', (reason: string) => {
      if (this.connection !== connection) return;
      this.blocked = reason || 'no reason given';
      this.onBlocked?.();
    });
    connection.on('unblocked', () => {
      if (this.connection === connection) this.blocked = undefined;
    });
    if (this.closed) {
      await connection.close().catch(() => undefined);
      throw new Error('the check was closed');
    }
    this.connection = connection;
    return connection;
  }

  /** Closes the kept connection: politely, or its socket after CLOSE_WAIT_MS (a blocked broker reads nothing). */
  private async drop(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    this.blocked = undefined;
    if (!connection) return;
    let timer: NodeJS.Timeout | undefined;
    const closed = await Promise.race([
      connection.close().then(
        () => true,
        () => true,
      ),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), CLOSE_WAIT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (!closed) (connection.connection as unknown as { stream?: { destroy(): void } }).stream?.destroy();
  }

  private judge(outcome: PingOutcome, waitMs: number): CheckResult {
    const answered = [...outcome.replies.keys()].sort();
    const perfdata: PerfDatum[] = [
      { label: 'workers', value: answered.length, uom: '', crit: `${this.minWorkers}:`, min: 0 },
    ];
    const within = `within ${formatSeconds(waitMs)}`;
    const notes: string[] = [];
    if (outcome.unreadable.length > 0)
      notes.push(
        `${outcome.unreadable.length} reply(ies) not JSON (${[...new Set(outcome.unreadable)].join(', ')})`,
      );
    const odd = answered.filter((name) => !isPong(outcome.replies.get(name)));
    if (odd.length > 0)
      notes.push(
        odd.map((name) => `${name} answered ${JSON.stringify(outcome.replies.get(name))}`).join(', '),
      );
    const longOutput = notes.length > 0 ? notes.join('\n') : undefined;
    // Every worker named in `workers`, then the others that answered.
    const items = [...new Set([...this.expected, ...answered])].map((name): CheckItem => {
      if (!outcome.replies.has(name))
        return { name, state: 'critical', output: `did not answer within ${formatSeconds(waitMs)}` };
      const reply = outcome.replies.get(name);
      return isPong(reply)
        ? { name, state: 'ok', output: 'answered pong' }
        : { name, state: 'warning', output: `answered ${JSON.stringify(reply)}, not pong` };
    });
    const result = (state: CheckResult['state'], text: string): CheckResult => ({
      state,
      output: `celery ${this.broker.display}: ${text}`,
      ...(longOutput !== undefined ? { longOutput } : {}),
      ...(items.length > 0 ? { items } : {}),
      perfdata,
    });
    const answeredText = answered.length > 0 ? answered.join(', ') : 'none';
    const missing = this.expected.filter((name) => !outcome.replies.has(name));
    if (answered.length === 0 && (this.minWorkers > 0 || this.expected.length > 0))
      return result(
        'critical',
        `no worker answered ${within}${outcome.noMailbox ? ` (no ${MAILBOX_EXCHANGE} exchange: no worker has started on this vhost)` : ''}${
          this.expected.length > 0 ? `; expected ${this.expected.join(', ')}` : ''
        }`,
      );
    if (missing.length > 0)
      return result(
        'critical',
        `${missing.join(', ')} did not answer ${within}; ${answered.length} answered: ${answeredText}`,
      );
    if (answered.length < this.minWorkers)
      return result(
        'critical',
        `${plural(answered.length, 'worker')} answered ${within}, ${this.minWorkers} required (min_workers): ${answeredText}`,
      );
    return result('ok', `${plural(answered.length, 'worker')} answered: ${answeredText}`);
  }

  private critical(text: string): CheckResult {
    return { state: 'critical', output: `celery ${this.broker.display}: ${text}`, perfdata: [] };
  }

  /** Why the connection could not be opened, in words, without the password. */
  private connectFailure(error: unknown, signal: AbortSignal): string {
    const broker = this.broker;
    const message = (error as { message?: unknown }).message;
    const text = typeof message === 'string' ? message : String(error);
    const code = (error as { code?: unknown }).code;
    if (signal.aborted || text === 'connect ETIMEDOUT' || code === 'ETIMEDOUT')
      return `could not connect to the broker: timed out`;
    if (code === 'ECONNREFUSED')
      return `could not connect to the broker: connection refused (is the broker running and listening on ${broker.hostname}:${broker.port}?)`;
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
      return `could not connect to the broker: host ${broker.hostname} not found`;
    if (/ACCESS[-_]REFUSED|\b403\b/.test(text))
      return `the broker refused the login of user ${JSON.stringify(broker.username)} (ACCESS_REFUSED: wrong user or password)`;
    if (/Expected ConnectionOpenOk; got <ConnectionClose/.test(text) || /NOT[-_]ALLOWED|\b530\b/.test(text))
      return `the broker refused vhost ${JSON.stringify(broker.vhost)} to user ${JSON.stringify(broker.username)} (no such vhost, or no permission on it)`;
    if (/Socket closed abruptly during opening handshake/.test(text))
      return `the broker closed the connection during the handshake (not an AMQP 0-9-1 broker, or the login was refused)`;
    return `could not connect to the broker: ${this.describe(error)}`;
  }

  private describe(error: unknown): string {
    const message = (error as { message?: unknown }).message;
    const text = typeof message === 'string' ? message : String(error);
    return this.broker.password.length >= 3 ? withoutPassword(text, this.broker.password) : text;
  }
}

function isPong(reply: unknown): boolean {
  return typeof reply === 'object' && reply !== null && (reply as { ok?: unknown }).ok === 'pong';
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${Math.round(ms) / 1000} s`;
}
