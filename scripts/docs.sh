#!/usr/bin/env bash
# Build the documentation site into ./site with warnings as errors (mkdocs.yml, docs/). Installs
# ./.venv first when the docs extra is missing; extra arguments reach `mkdocs build`.
# To look at it: .venv/bin/python -m http.server -d site 8000, then http://127.0.0.1:8000/
set -euo pipefail
cd "$(dirname "$0")/.."
if ! .venv/bin/python -c "import mkdocs, material, mkdocstrings_handlers.python" 2>/dev/null; then
    bash scripts/install.sh
fi
exec .venv/bin/python -m mkdocs build --strict "$@"
