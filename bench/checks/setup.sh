#!/bin/sh
# One-time setup for `npm run bench:checks` (Debian, as root): Nagios Core 4 to compare against, and
# the plugin both run (check_dummy, in monitoring-plugins-basic). Of Debian's `nagios4` the bench
# needs the daemon only, `nagios4-core` (the `nagios4` metapackage adds the CGI web UI, with PHP and
# a web server, which the bench never uses); its mail dependency pulls in an MTA. The packages would
# start system services; the bench runs its own Nagios in a temp dir, so service starts are blocked
# during the install (policy-rc.d, unless one exists already) and a Nagios that started anyway is
# stopped through its init script / unit and disabled. Nothing else is touched.
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
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nagios4-core monitoring-plugins-basic

# Stop and disable the package's own Nagios, if the install started it after all.
if command -v systemctl >/dev/null; then
  if [ -d /run/systemd/system ]; then systemctl stop nagios4 2>/dev/null || true; fi
  systemctl disable nagios4 2>/dev/null || true
fi
if [ -x /etc/init.d/nagios4 ]; then
  /etc/init.d/nagios4 stop 2>/dev/null || true
  update-rc.d nagios4 disable 2>/dev/null || true
fi
# Without an init system the script above may not know the pid: use the package's pidfile, and only
# when the pid named there really is Nagios.
pidfile=/run/nagios4/nagios4.pid
if [ -f "$pidfile" ]; then
  pid=$(cat "$pidfile")
  if [ -n "$pid" ] && grep -q '^nagios' "/proc/$pid/comm" 2>/dev/null; then kill "$pid" || true; fi
fi

# The bench starts Nagios as root and lets it drop to this user (nagios_user), as its init script does.
id nagios
/usr/sbin/nagios4 --version 2>&1 | sed -n 2p
ls /usr/lib/nagios/plugins/check_dummy
