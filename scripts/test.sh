#!/usr/bin/env bash
# Set up the environment and run the test suite (every notebook runs at smoke profile).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source .venv/cgh_env.sh
.venv/bin/python -m pytest -q "$@"
