#!/usr/bin/env bash
# Set up the environment and build the site. With no argument: every figure from the stored runs
# (its highest profile whose runs are all in runs/; nothing trained). With PROFILE (smoke, small,
# paper): every figure at that profile, training what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source .venv/cgh_env.sh
.venv/bin/cgh book --no-progress ${1:+--profile "$1"}
