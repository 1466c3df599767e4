"""The teacher check over the grid's profile sources: does each profile file carry signal about its
users' held-out (validation) items? See ``recbole_llmkd.profiles.check``.

    python benchmarks/teacher_check.py --datasets ml-100k beauty

Builds each source's ``.user`` file the way the grid does (``benchmarks/grid.py``: llm, metadata,
random, itemmean; cached under ``--work``), runs the check on it and writes
``results/teacher_check.json`` and ``results/teacher_check.md`` (one row per dataset × source;
the rows of pairs not checked this time are kept).
"""

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.grid import DATASETS, GridError, build_profile_file, ensure_source  # noqa: E402

SOURCES = ("llm", "metadata", "itemmean", "random")


def check_source(work, dataset, source, neighbours, permutations, allow_generate=False):
    from recbole_llmkd.profiles.check import check_profiles
    from recbole_llmkd.profiles.config import load_config

    spec = DATASETS[dataset]
    if spec.temporal:
        raise GridError(f"{dataset}: the check supports leave-one-out datasets only")
    data_path = ensure_source(dataset)
    user_file = build_profile_file(work, dataset, source, data_path, allow_generate)
    config = load_config([], dataset=spec.source, data_path=data_path)
    return check_profiles(config, user_file, neighbours=neighbours, permutations=permutations)


def format_rows(rows):
    lines = ["| dataset | profiles | users | kNN NDCG@10 (valid) | shuffled | lift (95% CI) | verdict | "
             "interaction kNN lift |", "|---|---|---:|---:|---:|---|---|---:|"]
    for row in rows:
        low, high = row["lift_ci95"]
        lines.append(f"| {row['dataset']} | {row['source']} | {row['users']} | {row['ndcg@10']:.4f} | "
                     f"{row['ndcg@10_shuffled']:.4f} | {row['lift']:.2f} ({low:.2f}-{high:.2f}) | "
                     f"{row['verdict'].split(':')[0]} | {row['lift_interaction_knn']:.2f} |")
    return "\n".join(lines) + "\n"


def merge_rows(previous, checked):
    """The table's rows: this run's, and every earlier row of a dataset x source it did not check
    (a source skipped this time keeps its earlier row), sorted by dataset, then source."""
    done = {(r["dataset"], r["source"]) for r in checked}
    rows = [r for r in previous if (r["dataset"], r["source"]) not in done] + list(checked)
    return sorted(rows, key=lambda r: (r["dataset"], SOURCES.index(r["source"])))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["ml-100k"], choices=sorted(DATASETS), help="datasets to check")
    parser.add_argument("--sources", nargs="+", default=list(SOURCES), choices=SOURCES, help="profile sources to check")
    parser.add_argument("--neighbours", type=int, default=50, help="profile-space neighbours per user")
    parser.add_argument("--permutations", type=int, default=10, help="shuffles of the profiles across users (the chance level)")
    parser.add_argument("--work", default=os.path.join("output", "grid"), help="where the grid keeps the profile files")
    parser.add_argument("--results", default=os.path.join(ROOT, "results"), help="where teacher_check.md/.json go")
    parser.add_argument("--allow-generate", action="store_true", help="run the LLM where profiles are not shipped")
    args = parser.parse_args(argv)
    from recbole_llmkd.files import write_text_atomic

    path = os.path.join(args.results, "teacher_check.json")
    previous = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            previous = json.load(f)
    rows = []
    for dataset in args.datasets:
        for source in args.sources:
            try:
                result = check_source(args.work, dataset, source, args.neighbours, args.permutations,
                                      args.allow_generate)
            except GridError as err:
                print(f"{dataset} {source}: skipped: {err}", file=sys.stderr)
                continue
            result["user_file"] = os.path.relpath(result["user_file"])
            rows.append({"dataset": dataset, "source": source, **result,
                         "command": f"python benchmarks/teacher_check.py --datasets {dataset} --sources {source}"})
            print(f"{dataset} {source}: lift {result['lift']:.2f} {result['lift_ci95']} ({result['seconds']} s)",
                  flush=True)
    rows = merge_rows(previous, rows)
    os.makedirs(args.results, exist_ok=True)
    write_text_atomic(path, json.dumps(rows, indent=2) + "\n")
    table = format_rows(rows)
    write_text_atomic(os.path.join(args.results, "teacher_check.md"), table)
    print(table)
    return rows


if __name__ == "__main__":
    main()
