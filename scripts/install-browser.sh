#!/usr/bin/env bash
# Install Debian's Chromium for the real-browser widget test (Playwright drives it; no browser download).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    echo "chromium is installed: $(chromium --version 2>/dev/null || true)"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-browser: run as root (or install the 'chromium' package yourself)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
echo "installed $(chromium --version 2>/dev/null || echo chromium)"
