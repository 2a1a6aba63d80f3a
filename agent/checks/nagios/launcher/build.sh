#!/bin/sh
# Builds the plugin launcher (opsbro-plugin-launcher.c) into dist/launcher/, as part of
# `npm run build`. Without a C compiler the agent still works: it then starts plugins from its own
# process, at several times the CPU per run (docs/checks-script.md), and says so in its log. A
# compiler that fails on the file is an error: the build stops.
set -eu
cd "$(dirname "$0")"
out=../../../../dist/launcher
compiler=${CC:-cc}
if ! command -v "$compiler" >/dev/null 2>&1; then
  echo "note: no C compiler ($compiler): the plugin launcher is not built; plugins will run from the agent process" >&2
  exit 0
fi
mkdir -p "$out"
"$compiler" -O2 -Wall -Wextra -o "$out/opsbro-plugin-launcher.tmp" opsbro-plugin-launcher.c
mv "$out/opsbro-plugin-launcher.tmp" "$out/opsbro-plugin-launcher"
