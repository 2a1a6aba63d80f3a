#!/bin/sh
# One-time setup for `npm run bench:metrics` (Debian, as root): the peers opsbro's metrics are
# compared with. carbon-cache and whisper (graphite-carbon, python3-whisper; the bench starts its own
# carbon-cache in the foreground, Debian starts no service for it), Etsy statsd from npm (into
# /opt/opsbro-bench/statsd, outside the project: it is no dependency of opsbro), and gcc for the
# UDP sender the bench compiles.
set -e
. "$(dirname "$0")/../lib/quiet-install.sh"

install_quietly graphite-carbon python3-whisper gcc libc6-dev
mkdir -p /opt/opsbro-bench/statsd
# statsd's optional native modules (syslog) are not needed by the bench.
npm install --silent --no-save --omit=optional --prefix /opt/opsbro-bench/statsd statsd@0.9.0
node -e "console.log('statsd', require('/opt/opsbro-bench/statsd/node_modules/statsd/package.json').version)"
carbon-cache --version 2>/dev/null || echo "carbon-cache $(dpkg-query -W -f='${Version}' graphite-carbon)"
