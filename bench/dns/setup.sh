#!/bin/sh
# One-time setup for `npm run bench:dns` (Debian, as root): dnsperf sends the queries; dnsmasq is
# the server opsbro is compared with (dnsmasq-base: the binary only, no service to stop).
set -e
. "$(dirname "$0")/../lib/quiet-install.sh"

install_quietly dnsperf dnsmasq-base
dnsperf -h 2>&1 | sed -n 1p
dnsmasq --version | sed -n 1p
