// Celery's remote control ("pidbox", kombu.pidbox.Mailbox) spoken over an AMQP connection, for
// `ping`: what `celery inspect ping` does. Every worker consumes from the fanout exchange
// `celery.pidbox` (its queue `<name>.celery.pidbox`); a broadcast there with a `reply_to` makes each
// worker answer `{"<name>": {"ok": "pong"}}` through the direct exchange `reply.celery.pidbox`, with
// the routing key the caller chose, onto the caller's reply queue bound with it. Replies carry the
// request's `ticket` header; a reply to another request is ignored.
//
// The declarations are kombu's: the exchanges non-durable and not auto-deleted (Mailbox's
// _get_exchange / _get_reply_exchange), the reply queue `<oid>.reply.celery.pidbox` non-durable and
// auto-deleted with x-expires 10 s (celery's control_queue_expires); it is also exclusive here (one
// run's queue, gone with the run's consumer or the connection). `celery.pidbox` is only checked
// (passive): it is the workers' to declare, and its absence means no worker ever started on the vhost.
import { randomUUID } from 'node:crypto';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { abortReason, raceAbort } from '../../shared/abort.js';

export const MAILBOX_EXCHANGE = 'celery.pidbox';
export const REPLY_EXCHANGE = 'reply.celery.pidbox';
/** kombu's REPLY_QUEUE_EXPIRES / celery's control_queue_expires: 10 s. */
const REPLY_QUEUE_EXPIRES_MS = 10_000;
const NOT_FOUND = 404;

/** What one ping broadcast gathered. */
export interface PingOutcome {
  /** Each worker that answered, by name (celery@host), with its reply ({ok: 'pong'}). */
  replies: Map<string, unknown>;
  /** Replies to our ticket that could not be read (not JSON), by content type. */
  unreadable: string[];
  /** Set when `celery.pidbox` does not exist on the vhost: no worker has ever started there. */
  noMailbox?: boolean;
}

/** kombu's LamportClock, as far as a client needs it: forwarded on send, adjusted on receive. */
export class LamportClock {
  private value = 0;
  forward(): number {
    return ++this.value;
  }
  adjust(other: unknown): void {
    if (typeof other === 'number' && Number.isFinite(other)) this.value = Math.max(this.value, other) + 1;
  }
}

/**
 * Broadcasts `ping` to every worker (destination null, as `celery inspect ping`) and collects the
 * replies for `waitMs`. Rejects when `signal` aborts or the channel fails (the caller says why).
 */
export async function pingWorkers(
  connection: ChannelModel,
  waitMs: number,
  clock: LamportClock,
  signal: AbortSignal,
): Promise<PingOutcome> {
  // Every step is given up on when the signal aborts: a blocked broker answers none of them.
  const channel = await raceAbort(connection.createChannel(), signal);
  // A channel error also rejects the operation in flight; the listener keeps it from being thrown.
  channel.on('error', () => undefined);
  try {
    return await raceAbort(broadcast(channel, waitMs, clock, signal), signal);
  } finally {
    await raceAbort(channel.close(), signal).catch(() => undefined);
  }
}

async function broadcast(
  channel: Channel,
  waitMs: number,
  clock: LamportClock,
  signal: AbortSignal,
): Promise<PingOutcome> {
  const outcome: PingOutcome = { replies: new Map(), unreadable: [] };
  try {
    await channel.checkExchange(MAILBOX_EXCHANGE);
  } catch (error) {
    if ((error as { code?: unknown }).code === NOT_FOUND) return { ...outcome, noMailbox: true };
    throw error;
  }
  await channel.assertExchange(REPLY_EXCHANGE, 'direct', { durable: false, autoDelete: false });
  const oid = randomUUID();
  const queue = `${oid}.${REPLY_EXCHANGE}`;
  await channel.assertQueue(queue, {
    durable: false,
    autoDelete: true,
    exclusive: true,
    arguments: { 'x-expires': REPLY_QUEUE_EXPIRES_MS },
  });
  await channel.bindQueue(queue, REPLY_EXCHANGE, oid);
  const ticket = randomUUID();
  const onReply = (message: ConsumeMessage | null): void => {
    if (!message) return; // the broker cancelled the consumer: the wait below ends at its time
    const headers = message.properties.headers ?? {};
    clock.adjust(headers.clock);
    if (typeof headers.expires === 'number' && headers.expires > 0 && Date.now() / 1000 > headers.expires)
      return;
    // kombu: a reply without a ticket header (kombu < 2.5) is taken as ours.
    if (headers.ticket !== undefined && headers.ticket !== ticket) return;
    const type = String(message.properties.contentType ?? '');
    let body: unknown;
    try {
      body = JSON.parse(message.content.toString('utf8'));
    } catch {
      outcome.unreadable.push(type || 'no content type');
      return;
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      outcome.unreadable.push(type || 'no content type');
      return;
    }
    for (const [name, reply] of Object.entries(body as Record<string, unknown>))
      outcome.replies.set(name, reply);
  };
  const { consumerTag } = await channel.consume(queue, onReply, { noAck: true, exclusive: true });
  const request = {
    method: 'ping',
    arguments: {},
    destination: null,
    pattern: null,
    matcher: null,
    ticket,
    reply_to: { exchange: REPLY_EXCHANGE, routing_key: oid },
  };
  // The properties kombu's Producer gives it: JSON in UTF-8, clock and expiry (epoch seconds) headers.
  channel.publish(MAILBOX_EXCHANGE, '', Buffer.from(JSON.stringify(request), 'utf8'), {
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: { clock: clock.forward(), expires: Date.now() / 1000 + waitMs / 1000 },
    deliveryMode: 2,
    priority: 0,
  });
  await sleep(waitMs, signal);
  await channel.cancel(consumerTag);
  return outcome;
}

/** Waits `ms`, or rejects as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const abort = (): void => {
      clearTimeout(timer);
      reject(new Error(abortReason(signal)));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', abort);
      resolve();
    }, ms);
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
  });
}
