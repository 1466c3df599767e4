"""The main job: dataset → user profiles → a RecBole baseline and its KD model → comparison table.

    python run_recbole_kd.py --pipeline -d ml-100k             # SASRec vs SASRecKD
    python run_recbole_kd.py --pipeline -d ml-100k -m BERT4Rec  # BERT4Rec vs BERT4RecKD

Stages: the profile pipeline (``generate`` — the shipped cache for ml-100k, ``--regenerate`` runs
the LLM — then ``embed``, ``reduce``, ``write``), training the baseline, training the KD model with
the same config, seed and split, and the report. The two runs get the same RecBole config apart
from ``kd_profile_file``, and the report refuses to compare runs whose split fingerprints differ.

Written to the output folder: ``profiles/`` (the profile pipeline's files and the ``.user`` file),
``runs/<model>.json`` (everything :func:`recbole_llmkd.harness.experiment.train_and_test` records),
``results.json``, ``results.md``, ``results.csv`` and ``results.png``.
"""

import csv
import json
import os
import time

from tqdm import tqdm

from recbole_llmkd.harness.experiment import train_and_test
from recbole_llmkd.formats.files import atomic_open, write_text_atomic
from recbole_llmkd.kd_settings import KD_MODELS
from recbole_llmkd.user_errors import RunFailed

# -m may name either model of a pair: the RecBole model and its KD model
MODEL_PAIRS = {name: (parent, kd) for kd, parent in KD_MODELS.items() for name in (parent, kd)}

# The benchmark's converged CPU budget (benchmarks/budgets/converged.yaml): both models train until
# validation NDCG@10 stalls for 5 epochs (at most 50), so neither is compared half-trained. SASRec on
# ml-100k: ~30 s per epoch on 2 cores with the fast path, 15-25 epochs per model. Override with
# --key=value flags (e.g. --epochs=6 --stopping_step=6 for a quick smoke run).
DEFAULT_BUDGET = {"epochs": 50, "stopping_step": 5, "fast_path": True, "MAX_ITEM_LIST_LENGTH": 20,
                  "topk": [10, 20], "metrics": ["Recall", "NDCG"], "valid_metric": "NDCG@10"}

TABLE_COLUMNS = ("model", "recall@10", "ndcg@10", "recall@20", "ndcg@20", "train_s_per_epoch", "inference_s",
                 "epochs", "best_epoch")


class MainJobError(RunFailed):
    """The main job cannot go on (a model without a KD pair, runs on different splits, no matplotlib):
    its command line ends with this one line instead of a traceback."""


def model_pair(model):
    try:
        return MODEL_PAIRS[model]
    except KeyError:
        raise MainJobError(
            f"--pipeline compares a RecBole model with its KD model: -m must be one of {sorted(MODEL_PAIRS)}, "
            f"got {model!r}") from None


def build_profiles(dataset, out_dir, profile_config_files=(), regenerate=False, data_path=None, progress=True,
                   max_users=None):
    """The profile ``.user`` file of the config's source (the LLM by default; the same builder as the
    benchmark grid's); returns it and the steps' summaries."""
    from recbole_llmkd.profiles.config import load_config
    from recbole_llmkd.profiles.sources import build_profile_file

    config = load_config(list(profile_config_files), dataset=dataset, output_dir=out_dir,
                         regenerate=regenerate or None, data_path=data_path, max_users=max_users)
    summaries = build_profile_file(config, config.source, progress=progress)
    return config.user_path, summaries


def recbole_data_path(model, dataset, config_file_list=None, config_dict=None):
    """The folder holding ``<dataset>/`` as RecBole resolves it (config files, dict and ``--data_path=``
    flags), for the profile pipeline to read the same files."""
    from recbole_llmkd.integration.quick_start import build_config

    config = build_config(model, dataset, config_file_list, config_dict)
    return os.path.dirname(os.path.normpath(config["data_path"]))


def table_rows(runs):
    rows = []
    for run in runs:
        test = run["test_result"]
        rows.append({
            "model": run["model"],
            **{k: test.get(k) for k in ("recall@10", "ndcg@10", "recall@20", "ndcg@20")},
            "train_s_per_epoch": round(run["train_seconds_per_epoch"], 2),
            "inference_s": round(run["inference_seconds"], 3),
            "epochs": run["epochs_trained"],
            "best_epoch": run["best_epoch"],
        })
    return rows


def check_same_split(runs):
    splits = {json.dumps(run["split"], sort_keys=True) for run in runs}
    if len(splits) != 1:
        raise MainJobError("the runs did not train and test on the same split: "
                            + "; ".join(f"{run['model']}: {run['split']}" for run in runs))
    return runs[0]["split"]


def format_table(rows):
    def cell(value):
        if value is None:
            return "-"
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    header = "| " + " | ".join(TABLE_COLUMNS) + " |"
    rule = "|" + "|".join("---" if c == "model" else "---:" for c in TABLE_COLUMNS) + "|"
    lines = [header, rule] + ["| " + " | ".join(cell(row[c]) for c in TABLE_COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def plot_results(rows, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (quality, cost) = plt.subplots(1, 2, figsize=(9, 3.6))
    metrics = [m for m in ("recall@10", "ndcg@10", "recall@20", "ndcg@20") if any(row[m] is not None for row in rows)]
    width = 0.8 / len(rows)
    for i, row in enumerate(rows):
        xs = [m + i * width for m in range(len(metrics))]
        quality.bar(xs, [row[m] or 0.0 for m in metrics], width, label=row["model"])
    quality.set_xticks([m + width * (len(rows) - 1) / 2 for m in range(len(metrics))], metrics)
    quality.set_title("test metrics (full ranking)")
    quality.legend()
    names = [row["model"] for row in rows]
    cost.bar(names, [row["train_s_per_epoch"] for row in rows], color="gray")
    cost.set_ylabel("train seconds / epoch")
    cost.set_title("training cost")
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def save_figure(fig, path):
    """Write ``fig`` as PNG to ``path`` atomically, then close it."""
    import matplotlib.pyplot as plt

    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
    return path


def comparison_line(rows):
    """One sentence on the KD row against the baseline row, with the caveat a single seed needs."""
    base, kd = rows[0], rows[-1]
    if not base.get("ndcg@10") or kd.get("ndcg@10") is None:
        return ""
    change = kd["ndcg@10"] / base["ndcg@10"] - 1
    return (f"{kd['model']} vs {base['model']}: test NDCG@10 {kd['ndcg@10']:.4f} vs {base['ndcg@10']:.4f} "
            f"({change:+.1%}), one seed, best epochs {kd['best_epoch']} and {base['best_epoch']}. A single seed moves "
            "NDCG@10 by a few percent either way; results/README.md has the multi-seed benchmark with paired tests.")


def write_report(out_dir, dataset, runs, profile_summaries, seconds):
    rows = table_rows(runs)
    split = check_same_split(runs)
    report = {"dataset": dataset, "rows": rows, "split": split, "config": runs[-1]["config"],
              "environment": runs[-1]["environment"], "seconds": seconds,
              "profiles": {k: v for k, v in (profile_summaries or {}).get("write", {}).items()}}
    write_text_atomic(os.path.join(out_dir, "results.json"), json.dumps(report, indent=2) + "\n")
    table = format_table(rows)
    write_text_atomic(os.path.join(out_dir, "results.md"),
                      f"# {dataset}: {' vs '.join(r['model'] for r in rows)}\n\n{table}\n\n"
                      f"Same split (sha256 of training sequences / test targets): {split['train']} / {split['test']}\n")
    with atomic_open(os.path.join(out_dir, "results.csv")) as f:
        writer = csv.DictWriter(f, fieldnames=TABLE_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    plot_results(rows, os.path.join(out_dir, "results.png"), f"{dataset}, same split, seed {runs[0]['seed']}")
    return rows, table


def run_main_job(dataset="ml-100k", model="SASRec", output_dir=None, config_dict=None, config_file_list=None,
                 profile_config_files=(), regenerate=False, profile_file=None, progress=True, max_users=None):
    """Run the main job; returns the table rows. ``profile_file`` skips the profile stages;
    ``max_users`` generates LLM profiles for a seeded sample of that many users only."""
    baseline, kd = model_pair(model)
    try:
        import matplotlib  # noqa: F401  (checked now rather than after both trainings)
    except ImportError:
        raise MainJobError("the main job plots its table with matplotlib: pip install 'recbole-llmkd[bench]'") from None
    out_dir = output_dir or os.path.join("output", dataset, "pipeline")
    os.makedirs(os.path.join(out_dir, "runs"), exist_ok=True)
    config = {**DEFAULT_BUDGET, "checkpoint_dir": os.path.join(out_dir, "saved"), **(config_dict or {})}
    started = time.perf_counter()
    stages = ["profiles", f"train {baseline}", f"train {kd}", "report"]
    bar = tqdm(total=len(stages), desc="pipeline", unit="stage", disable=not progress, position=0, leave=True)

    def stage(i):
        bar.set_description(f"pipeline [{i + 1}/{len(stages)}: {stages[i]}]")
        bar.refresh()

    # closed before an error reaches the command line, so that its one line is the last on the console
    try:
        stage(0)
        summaries = None
        if profile_file is None:
            data_path = recbole_data_path(baseline, dataset, config_file_list, config)
            profile_file, summaries = build_profiles(dataset, os.path.join(out_dir, "profiles"), profile_config_files,
                                                     regenerate, data_path, progress, max_users)
        bar.update()
        runs = []
        for i, (name, extra) in enumerate([(baseline, {}), (kd, {"kd_profile_file": profile_file})], start=1):
            stage(i)
            # the console gets one line per epoch; RecBole's config dump and metrics go to ./log/<model>/
            run = train_and_test(name, dataset, {"show_progress": False, **config, **extra}, config_file_list,
                                 epoch_line=tqdm.write if progress else None, quiet_console=True)
            write_text_atomic(os.path.join(out_dir, "runs", f"{name}.json"), json.dumps(run, indent=2) + "\n")
            runs.append(run)
            bar.update()
        stage(3)
        rows, table = write_report(out_dir, dataset, runs, summaries, round(time.perf_counter() - started, 1))
        bar.update()
    finally:
        bar.close()
    print(f"\n{table}\n\n{comparison_line(rows)}\n\nwritten: {out_dir}/results.md, results.json, results.csv, "
          f"results.png, runs/*.json; RecBole's logs: ./log/ ({time.perf_counter() - started:.0f} s)")
    return rows
