"""``write``: the ``.user`` atomic file the KD models read, and a manifest that traces it.

Users without a profile are left out of the file: the KD models train on them without the
distillation term (``KDSequentialDataset``). The manifest (``<file>.manifest.json``) records the
LLM, prompt style, encoder, reducer, dims, counts and a hash of the source dataset files, gathered
from the summaries the earlier steps wrote into the output folder.
"""

import glob
import json
import os
import time

from recbole_llmkd.formats.files import dataset_files, file_sha256, read_atomic, write_profile_file, write_text_atomic
from recbole_llmkd.profiles.embed import load_matrix
from recbole_llmkd.profiles.reduce import reduced_path


def step_summary_path(config, step):
    return os.path.join(config.out, f"{step}.summary.json")


def read_summaries(config):
    summaries = {}
    for step in ("embed", "item_mean", "reduce"):
        path = step_summary_path(config, step)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                summaries[step] = json.load(f)
    generate = []
    for path in sorted(glob.glob(os.path.join(config.out, "generate*.summary.json"))):
        with open(path, encoding="utf-8") as f:
            generate.append(json.load(f))
    summaries["generate"] = generate
    return summaries


def manifest_path(user_path):
    stem = user_path[: -len(".user")] if user_path.endswith(".user") else user_path
    return stem + ".manifest.json"


def run_write(config):
    from recbole_llmkd.version import __version__

    users, vectors = load_matrix(reduced_path(config), "reduce")
    path = config.user_path
    if not path.endswith(".user"):
        raise ValueError(f"user_file {path!r}: RecBole reads user features from a file ending in .user")
    write_profile_file(path, users, vectors, field=config.profile_field, user_field=config.user_field)
    inter_path, item_path = dataset_files(config.dataset, config.data_path)
    inter, _ = read_atomic(inter_path)
    total = int(inter[config.user_field].nunique())
    summaries = read_summaries(config)
    generate = summaries.get("generate") or [{}]
    manifest = {
        "user_file": os.path.abspath(path),
        "field": f"{config.profile_field}:float_seq",
        "dims": int(vectors.shape[1]),
        "users_profiled": len(users),
        "users_in_dataset": total,
        "users_without_profile": total - len(users),
        "dataset": {"name": config.dataset, "inter": inter_path, "inter_sha256": file_sha256(inter_path),
                    "item_sha256": file_sha256(item_path) if os.path.exists(item_path) else None},
        "split": ({"temporal_cut_quantile": config.cut_quantile} if config.cut_quantile is not None
                  else {"leave_one_out_holdout": config.holdout}),
        "source": config.source,
        "llm": generate[0].get("backend") if config.source == "llm" else None,
        "prompt": {"style": config.style, "domain": config.domain, "template_file": config.template_file,
                   "item_fields": config.item_fields, "max_items": config.max_items,
                   "long_history": config.long_history},
        "generation": [{k: s.get(k) for k in ("shard", "users", "cached", "generated", "failed", "calls",
                                               "prompt_tokens", "output_tokens", "seconds", "output_tokens_per_s",
                                               "from_shipped_cache", "shipped_caches")} for s in generate],
        "encoder": summaries.get("embed") if config.source == "llm" else summaries.get("item_mean"),
        "reducer": {"name": config.reducer, "n_components": config.n_components,
                    "n_neighbors": config.n_neighbors, "min_dist": config.min_dist, "metric": config.metric,
                    "random_state": config.random_state, "reducer_file": config.reducer_file,
                    **({"run": summaries["reduce"]} if "reduce" in summaries else {})},
        "recbole_llmkd": __version__,
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_text_atomic(manifest_path(path), json.dumps(manifest, indent=2) + "\n")
    return {"user_file": path, "manifest": manifest_path(path), "users": len(users),
            "users_without_profile": total - len(users), "dims": int(vectors.shape[1])}
