#!/bin/sh
# One-time setup for `npm run bench:gossip` (Debian, as root): Serf to compare against, and nftables for
# the byte counters (without nft the bench falls back to /proc/net/dev lo totals, approximate).
set -e
apt-get update
apt-get install -y serf nftables
serf version
nft --version
