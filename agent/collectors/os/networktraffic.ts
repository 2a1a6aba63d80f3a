// networktraffic: per interface, bytes/packets/errors/drops received and sent per second, from
// <proc>/net/dev (since the previous run; the first run since boot). Every interface is reported,
// loopback included (as node_exporter does by default).
import type { CollectorType } from '../collector.js';
import { named, perThingRatesCollector, type CounterSample } from './rates.js';

/** Reported keys, in the order of the counters parseNetDev() keeps. */
const NET_KEYS = [
  'recv_bytes_s',
  'recv_packets_s',
  'recv_errors_s',
  'recv_drop_s',
  'sent_bytes_s',
  'sent_packets_s',
  'sent_errors_s',
  'sent_drop_s',
];
// Columns after "iface:": receive bytes packets errs drop fifo frame compressed multicast, then
// transmit bytes packets errs drop ...
const NET_COLUMNS = [0, 1, 2, 3, 8, 9, 10, 11];

function parseNetDev(text: string): CounterSample {
  const out: CounterSample = new Map();
  for (const line of text.split('\n')) {
    // The name is followed by ':' with no space when the first counter is wide ("eth0:123456").
    const colon = line.indexOf(':');
    if (colon < 0 || line.includes('|')) continue;
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (fields.length < 16) continue;
    out.set(
      line.slice(0, colon).trim(),
      NET_COLUMNS.map((i) => fields[i]!),
    );
  }
  return out;
}

export const networktraffic: CollectorType = {
  type: 'networktraffic',
  description: 'Per interface: bytes, packets, errors and drops received and sent per second',
  defaultSettings: {},
  create: () => perThingRatesCollector('net/dev', parseNetDev, (rates) => named(NET_KEYS, rates)),
};
