#!/usr/bin/env bash
# The GPU check of issue #14 §4: one command, under 8 minutes on one H100/H200, one JSON line on stdout.
#   bash benchmarks/gpu_check.sh [--dry-run] [--only fig1|winsorize|aggregators ...]
# Uses $PYTHON, else .venv/bin/python, else python3. Save its output with provenance, e.g.
#   bash benchmarks/gpu_check.sh | tee benchmarks/results/gpu_check-$(date -u +%Y%m%d).json
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
py="${PYTHON:-}"
if [ -z "$py" ]; then
  if [ -x "$root/.venv/bin/python" ]; then py="$root/.venv/bin/python"; else py=python3; fi
fi
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
# a hard ceiling under the 8-minute budget; the sections are sized to take ~3-4 min on an H100
exec timeout --kill-after=10 470 "$py" "$root/benchmarks/gpu_check.py" "$@"
