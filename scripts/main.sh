#!/usr/bin/env bash
# The main job on the embedded default (RecBole's bundled ml-100k), from a fresh clone:
#   1. install into ./.venv;
#   2. python run_recbole_kd.py --pipeline -d ml-100k: the shipped SmolLM2 profiles of every user
#      (generated from training interactions only; --regenerate runs the LLM again, about an hour on
#      2 CPU cores) -> all-MiniLM-L6-v2 -> UMAP -> .user file -> RecBole's SASRec and SASRecKD on the
#      same split, seed and budget -> table, CSV, JSON and plot in output/ml-100k/pipeline/.
# Extra arguments go to run_recbole_kd.py, e.g. `bash scripts/main.sh -m BERT4Rec --epochs=20`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/python run_recbole_kd.py --pipeline -d ml-100k "$@"
