#!/usr/bin/env bash
# Install the Debian packages the tests need and pip cannot: Chromium for the real-browser widget tests (Playwright
# drives it; no browser download) and a C compiler for the fused Winograd transforms (fomm_nb/fused_transforms.c).
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
if [ ${#missing[@]} -eq 0 ]; then
    echo "chromium and a C compiler are installed: $(chromium --version 2>/dev/null || true); $(cc --version | head -1)"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-system: run as root (or install these Debian packages yourself: ${missing[*]})" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
echo "installed ${missing[*]}"
