#!/usr/bin/env bash
# Debian's Chromium for the real-browser test (tests/test_browser.py), from the distribution's packages.
#
# Browsers downloaded by their own installers (`playwright install`, a Chrome for Testing zip) cannot be
# fetched on the machines this project runs on; Debian's package can. Idempotent: does nothing when
# /usr/bin/chromium is already there. Exits non-zero, saying why, when it is missing and cannot be
# installed (not root and no passwordless sudo, no apt-get, the install failed); tests/test_browser.py
# then skips, saying Chromium is missing (or fails, with LABKIT_REQUIRE_BROWSER=1).
#
# Usage: scripts/install-browser.sh [--quiet]
set -euo pipefail

CHROMIUM=${LABKIT_CHROMIUM:-/usr/bin/chromium}
QUIET=${1:-}

say() { [ "$QUIET" = "--quiet" ] || echo "install-browser: $*"; }
fail() { echo "install-browser: $*" >&2; exit 1; }

if [ -x "$CHROMIUM" ]; then
    say "$("$CHROMIUM" --version 2>/dev/null || echo chromium) already installed at $CHROMIUM"
    exit 0
fi

command -v apt-get >/dev/null 2>&1 || fail "$CHROMIUM is missing and there is no apt-get here (not Debian/Ubuntu): install Chromium by hand, or set LABKIT_CHROMIUM to its path"

if [ "$(id -u)" -eq 0 ]; then
    as_root() { "$@"; }
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root() { sudo -n "$@"; }
else
    fail "$CHROMIUM is missing and installing it needs root: run 'sudo apt-get install chromium' (this user is not root and has no passwordless sudo)"
fi

say "installing Debian's chromium (apt-get update, apt-get install -y chromium) ..."
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null \
    || fail "apt-get update failed (no access to the Debian package mirror?)"
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation \
    >/dev/null || fail "apt-get install chromium failed (see apt's messages above)"

[ -x "$CHROMIUM" ] || fail "apt-get installed chromium but $CHROMIUM is not there"
say "$("$CHROMIUM" --version 2>/dev/null || echo chromium) installed at $CHROMIUM"
