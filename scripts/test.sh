#!/usr/bin/env bash
# Run the whole test suite: set up (with test extras), install Chromium and a C compiler, run pytest.
# Under CI (CI=true) a missing browser fails the browser test instead of skipping it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
bash scripts/install-system.sh
.venv/bin/python -m pytest "$@"
