#!/bin/sh
# One-time setup for `npm run bench:kv` (Debian, as root): etcd-server is the peer opsbro's KV store
# is compared with (the bench starts its own 3 members on loopback; Debian starts no service here
# without systemd, and the bench never touches one that runs).
set -e
. "$(dirname "$0")/../lib/quiet-install.sh"

install_quietly etcd-server
etcd --version | sed -n 1p
