#!/usr/bin/env bash
# Set up the environment, execute every figure notebook at PROFILE (default smoke) and build the site.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source .venv/cgh_env.sh
.venv/bin/cgh book --profile "${1:-smoke}"
