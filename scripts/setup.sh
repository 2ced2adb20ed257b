#!/usr/bin/env bash
# Create ./.venv with the project and its dependencies (idempotent: a second run is quick).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import cgh_lib, torch, papermill, jupyter_book, yaml, ghp_import, selenium, submitit" 2>/dev/null; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".[dev]"
fi
# default offline data: ../shared/data beside the checkout, if present
if [ -z "${CGH_DATA:-}" ] && [ -d ../shared/data ]; then
  echo "export CGH_DATA=$(cd ../shared/data && pwd)" > .venv/cgh_env.sh
else
  : > .venv/cgh_env.sh
fi
# local copies of MathJax and the widget JavaScript for the offline site (npm pack, pinned sha512)
.venv/bin/python -m cgh_lib.book.web_assets >/dev/null || echo "warning: the vendored site JavaScript (cgh_lib/book/vendor) is missing; the book will load it from CDNs" >&2
