#!/bin/sh
# One-time setup for `npm run bench:collectors` (Debian, as root): the two peers the bench starts
# itself, prometheus-node-exporter and netdata. Their packages would start system services; the
# bench needs neither (it runs its own instances on loopback), so service starts are blocked during
# the install (policy-rc.d, unless one exists already) and any instance that started anyway is
# stopped through the package's own init script / unit and disabled. Nothing else is touched.
set -e
if [ "$(id -u)" != 0 ]; then
  echo "setup.sh: run as root (apt-get install)" >&2
  exit 1
fi

created_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  created_policy=1
fi
cleanup() { if [ -n "$created_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT

apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus-node-exporter netdata

# Stop and disable the packages' own services, if the install started them after all.
for service in prometheus-node-exporter netdata; do
  if command -v systemctl >/dev/null; then
    if [ -d /run/systemd/system ]; then systemctl stop "$service" 2>/dev/null || true; fi
    systemctl disable "$service" 2>/dev/null || true
  fi
  if [ -x "/etc/init.d/$service" ]; then
    "/etc/init.d/$service" stop 2>/dev/null || true
    update-rc.d "$service" disable 2>/dev/null || true
  fi
done
# Without an init system the scripts above may not know the pid: use the packages' pidfiles, and only
# when the pid named there really is that package's binary.
for entry in /run/netdata.pid:netdata /run/prometheus/prometheus-node-exporter.pid:prometheus-node; do
  pidfile=${entry%%:*}
  comm=${entry#*:}
  if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    if [ -n "$pid" ] && grep -q "^$comm" "/proc/$pid/comm" 2>/dev/null; then kill "$pid" || true; fi
  fi
done

/usr/bin/prometheus-node-exporter --version 2>&1 | head -1
/usr/sbin/netdata -V 2>&1 | head -1
