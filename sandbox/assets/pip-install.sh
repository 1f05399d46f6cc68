#!/bin/sh
# Installs, at image build time only, the requirements Debian did not provide, with pip from the
# package index or wheel directory the operator configured (the flags, "$@"). With no such source
# (FIXWRIGHT_PIP_SOURCE=0) pip is not run at all: it would reach the public index with the
# network the build has. Each requirement that cannot be installed is named on a
# "fixwright: pip could not install:" line. Strict (the default): the build fails. With
# FIXWRIGHT_BEST_EFFORT=1 (inferred environments, when no source is configured) the build goes
# on and the missing ones are listed in /usr/local/share/fixwright/missing.txt, for the baseline
# check of a run to report.
set -u
list=/tmp/fixwright-pip.txt
[ -f /tmp/fixwright-build/pip-only.txt ] && cat /tmp/fixwright-build/pip-only.txt >> "$list"
[ -s "$list" ] || exit 0
mkdir -p /usr/local/share/fixwright
missing=/usr/local/share/fixwright/missing.txt
: > "$missing"
if [ "${FIXWRIGHT_PIP_SOURCE:-0}" = 1 ]; then
  if ! python3 -m pip --version >/dev/null 2>&1; then
    { apt-get update -q && apt-get install -y -q --no-install-recommends python3-pip && rm -rf /var/lib/apt/lists/*; } >/dev/null ||
      { echo "fixwright: pip could not install: $(tr '\n' ' ' < "$list")(pip itself could not be installed)"; exit 1; }
  fi
  export PIP_RETRIES=2 PIP_TIMEOUT=30 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_BREAK_SYSTEM_PACKAGES=1 PIP_NO_CACHE_DIR=1
  echo "fixwright: with pip: $(tr '\n' ' ' < "$list")"
  python3 -m pip install "$@" -r "$list" && exit 0
  # The whole list failed: find which requirements are missing, one by one.
  while IFS= read -r req; do
    [ -n "$req" ] || continue
    python3 -m pip install "$@" -- "$req" >/dev/null 2>&1 || echo "$req" >> "$missing"
  done < "$list"
  [ -s "$missing" ] || exit 0
  echo "fixwright: pip could not install: $(tr '\n' ' ' < "$missing")"
  exit 1
fi
cp "$list" "$missing"
echo "fixwright: pip could not install: $(tr '\n' ' ' < "$missing")(no package index or wheel directory is configured)"
[ "${FIXWRIGHT_BEST_EFFORT:-0}" = 1 ] && exit 0
exit 1
