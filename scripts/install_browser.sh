#!/usr/bin/env bash
# Install headless Chromium + chromedriver for the UI tests (tests/test_ui.py), Debian/Ubuntu only.
# Idempotent: does nothing when both `chromium` and `chromedriver` are already on PATH.
# Needs root (or passwordless sudo) and a reachable apt mirror; `apt-get update` runs only when the
# first install attempt fails (fresh images ship without package lists).
# Exit status: 0 when both binaries are on PATH afterwards, 1 otherwise (with a message on stderr).
set -uo pipefail

have_both() { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }
fail() {
  echo "[install_browser] ERROR: $*" >&2
  echo "[install_browser] to install by hand:" \
    "apt-get install -y --no-install-recommends chromium chromium-driver" >&2
  exit 1
}

if have_both; then
  echo "[install_browser] already on PATH: $(command -v chromium), $(command -v chromedriver)"
  exit 0
fi

command -v apt-get >/dev/null 2>&1 ||
  fail "chromium/chromedriver missing and apt-get is not available (not Debian/Ubuntu)"

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  fail "chromium/chromedriver missing and not running as root (no passwordless sudo either)"
fi

export DEBIAN_FRONTEND=noninteractive
PKGS=(chromium chromium-driver)
echo "[install_browser] installing ${PKGS[*]}"
if ! "${SUDO[@]}" apt-get install -y --no-install-recommends "${PKGS[@]}"; then
  echo "[install_browser] install failed, running apt-get update and retrying"
  "${SUDO[@]}" apt-get update || fail "apt-get update failed (no reachable package mirror?)"
  "${SUDO[@]}" apt-get install -y --no-install-recommends "${PKGS[@]}" ||
    fail "apt-get install ${PKGS[*]} failed"
fi

have_both || fail "apt-get ran, yet chromium/chromedriver are still not on PATH ($PATH)"
echo "[install_browser] installed: $(command -v chromium), $(command -v chromedriver)"
