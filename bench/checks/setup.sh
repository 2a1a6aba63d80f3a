#!/bin/sh
# One-time setup for `npm run bench:checks` (Debian, as root): Nagios Core 4 to compare against, and
# the plugin both run (check_dummy, in monitoring-plugins-basic). Of Debian's `nagios4` the bench
# needs the daemon only, `nagios4-core` (the `nagios4` metapackage adds the CGI web UI, with PHP and
# a web server, which the bench never uses); its mail dependency pulls in an MTA. Installed without
# starting their services (bench/lib/quiet-install.sh): the bench runs its own Nagios in a temp dir.
set -e
. "$(dirname "$0")/../lib/quiet-install.sh"

install_quietly nagios4-core monitoring-plugins-basic
stop_service nagios4 /run/nagios4/nagios4.pid nagios

# The bench starts Nagios as root and lets it drop to this user (nagios_user), as its init script does.
id nagios
/usr/sbin/nagios4 --version 2>&1 | sed -n 2p
ls /usr/lib/nagios/plugins/check_dummy
