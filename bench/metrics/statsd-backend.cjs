// bench:metrics' backend for Etsy statsd: at each flush, prints what statsd counted of the
// interval's traffic (its own statsd.packets_received and statsd.metrics_received counters) as one
// line, so the bench can compare what was received with what was sent. Loaded by statsd itself
// (`backends: ["<this file>"]`): its parsing and aggregation run as they do in production.
'use strict';
/* global exports */

exports.init = function init(startupTime, config, events) {
  events.on('flush', (timestamp, metrics) => {
    const packets = metrics.counters['statsd.packets_received'] || 0;
    const lines = metrics.counters['statsd.metrics_received'] || 0;
    process.stdout.write(`FLUSH ${JSON.stringify({ timestamp, packets, lines })}\n`);
  });
  return true;
};
