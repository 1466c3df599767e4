#!/usr/bin/env bash
# The test command: install into ./.venv, then run the whole suite (pass pytest options through,
# e.g. `bash scripts/test.sh -m "not slow"` to skip the end-to-end training runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/python -m pytest "$@"
