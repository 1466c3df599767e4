#!/usr/bin/env bash
# The main job on the embedded default (RecBole's bundled ml-100k), from a fresh clone:
#   1. install into ./.venv;
#   2. the profile pipeline: the shipped SmolLM2 profiles of every user (generated from training
#      interactions only; REGENERATE=1 generates them again, about an hour on 2 CPU cores) ->
#      all-MiniLM-L6-v2 embeddings -> UMAP -> output/ml-100k/profiles/ml-100k.user;
#   3. train RecBole's SASRec and SASRecKD on the same split, seed and budget, and print both.
# Extra `--key=value` flags go to both runs, e.g. `bash scripts/main.sh --epochs=50`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
OUT=${OUT_DIR:-output/ml-100k}
mkdir -p "$OUT"
.venv/bin/python -m recbole_llmkd.profiles all -d ml-100k --output-dir "$OUT/profiles" \
    ${REGENERATE:+--regenerate}
exec .venv/bin/python - "$OUT" "$@" <<'PY'
import json, sys, time
from recbole_llmkd.quick_start import run_recbole_kd

out = sys.argv[1]
sys.argv = [sys.argv[0], *sys.argv[2:]]  # --key=value flags reach RecBole's Config of both runs
budget = {"epochs": 6, "MAX_ITEM_LIST_LENGTH": 20, "checkpoint_dir": f"{out}/saved", "show_progress": True}
rows = {}
for model, extra in [("SASRec", {}), ("SASRecKD", {"kd_profile_file": f"{out}/profiles/ml-100k.user"})]:
    start = time.perf_counter()
    result = run_recbole_kd(model=model, dataset="ml-100k", config_dict={**budget, **extra})
    rows[model] = {**{k: float(v) for k, v in result["test_result"].items()}, "seconds": time.perf_counter() - start}
with open(f"{out}/results.json", "w") as f:
    json.dump(rows, f, indent=2)
print(f"\n{'model':10s}{'recall@10':>11s}{'ndcg@10':>9s}{'seconds':>9s}")
for model, r in rows.items():
    print(f"{model:10s}{r['recall@10']:11.4f}{r['ndcg@10']:9.4f}{r['seconds']:9.0f}")
print(f"written: {out}/results.json")
PY
