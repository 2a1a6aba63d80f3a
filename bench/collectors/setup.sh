#!/bin/sh
# One-time setup for `npm run bench:collectors` (Debian, as root): the two peers the bench starts
# itself, prometheus-node-exporter and netdata, installed without starting their services
# (bench/lib/quiet-install.sh).
set -e
. "$(dirname "$0")/../lib/quiet-install.sh"

install_quietly prometheus-node-exporter netdata
stop_service prometheus-node-exporter /run/prometheus/prometheus-node-exporter.pid prometheus-node
stop_service netdata /run/netdata.pid netdata

/usr/bin/prometheus-node-exporter --version 2>&1 | head -1
/usr/sbin/netdata -V 2>&1 | head -1
