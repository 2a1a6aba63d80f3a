# Sourced by the benches' setup.sh (Debian, as root): install packages whose system services the
# bench never uses (it runs its own instances on loopback, in temp dirs). Service starts are blocked
# during the install (policy-rc.d, unless one exists already); a service that started anyway is
# stopped through its unit or init script and disabled, and, without an init system, killed through
# its pidfile when the pid there really is that program. Nothing else is touched.

if [ "$(id -u)" != 0 ]; then
  echo "setup.sh: run as root (apt-get install)" >&2
  exit 1
fi

# install_quietly PACKAGE...: apt-get install without --install-recommends, no service started.
install_quietly() {
  created_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
  fi
  trap 'if [ -n "$created_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

# stop_service NAME PIDFILE COMM: stop and disable NAME; kill the pid of PIDFILE if its comm starts with COMM.
stop_service() {
  if command -v systemctl >/dev/null; then
    if [ -d /run/systemd/system ]; then systemctl stop "$1" 2>/dev/null || true; fi
    systemctl disable "$1" 2>/dev/null || true
  fi
  if [ -x "/etc/init.d/$1" ]; then
    "/etc/init.d/$1" stop 2>/dev/null || true
    update-rc.d "$1" disable 2>/dev/null || true
  fi
  if [ -f "$2" ]; then
    pid=$(cat "$2")
    if [ -n "$pid" ] && grep -q "^$3" "/proc/$pid/comm" 2>/dev/null; then kill "$pid" || true; fi
  fi
}
