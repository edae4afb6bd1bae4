#!/usr/bin/env bash
# Debian's chromium for the browser tests (tests/browser), installed only when missing.
# Idempotent and quiet: prints nothing on success, apt's output on failure.
# Never `playwright install`: the tests drive /usr/bin/chromium.
set -euo pipefail

[ -x /usr/bin/chromium ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

if ! {
  $sudo apt-get update -q &&
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
} >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-browser: could not install the chromium package" >&2
  exit 1
fi
[ -x /usr/bin/chromium ] || { echo "install-browser: /usr/bin/chromium still missing" >&2; exit 1; }
