"""benchmarks/run_files.py: compact per-user values (one rank a user) that give back every array exactly."""

import json
import math

import numpy as np
import pytest

from benchmarks import report, run_files


def per_user_from_ranks(ranks, metrics=("recall@10", "recall@20", "ndcg@10", "ndcg@20"), decimals=6):
    out = {"user_index": list(range(1, len(ranks) + 1)), "user": [f"u{i}" for i in range(len(ranks))]}
    for metric in metrics:
        name, k = metric.split("@")
        k = int(k)
        values = []
        for r in ranks:
            hit = 0 <= r < k
            value = {"recall": 1.0, "hit": 1.0, "ndcg": 1 / math.log2(r + 2) if hit else 0.0,
                     "mrr": 1 / (r + 1) if hit else 0.0, "precision": 1 / k}[name] if hit else 0.0
            values.append(round(value, decimals) if decimals is not None else value)
        out[metric] = values
    return out


@pytest.mark.parametrize("metrics, decimals", [
    (("recall@10", "recall@20", "ndcg@10", "ndcg@20"), 6),
    (("recall@10", "ndcg@10", "hit@10", "mrr@20", "precision@5", "ndcg@20"), None),
])
def test_compact_round_trip_is_exact(tmp_path, metrics, decimals):
    ranks = [-1, 0, 3, 9, 10, 19, -1, 12, 1]
    run = {"model": "SASRec", "per_user": per_user_from_ranks(ranks, metrics, decimals)}
    compact = run_files.compact_run(run, str(tmp_path))
    assert compact["per_user"]["format"] == "rank-v1" and compact["per_user"]["decimals"] == decimals
    assert compact["per_user"]["top"] == 20 and compact["model"] == "SASRec" and "user" not in compact["per_user"]
    assert run_files.expand_run(compact, str(tmp_path)) == run
    assert len(list(tmp_path.iterdir())) == 1  # the users, once


def test_runs_the_ranks_cannot_reproduce_are_kept_as_they_are(tmp_path):
    odd = per_user_from_ranks([0, 2, -1])
    odd["ndcg@10"][1] = 0.4  # not 1/log2(4) rounded
    run = {"per_user": odd}
    assert run_files.compact_run(run, str(tmp_path)) is run
    unknown = {"per_user": {**per_user_from_ranks([0, 1]), "auc": [0.5, 0.7]}}
    assert run_files.compact_run(unknown, str(tmp_path)) is unknown
    assert not list(tmp_path.iterdir())


def test_runs_on_one_split_share_one_users_file(tmp_path):
    for ranks in ([0, -1, 4], [2, 2, -1]):
        run_files.compact_run({"per_user": per_user_from_ranks(ranks)}, str(tmp_path))
    assert len(list(tmp_path.iterdir())) == 1


def test_missing_users_file_is_named(tmp_path):
    compact = run_files.compact_run({"per_user": per_user_from_ranks([0, 1])}, str(tmp_path / "a"))
    with pytest.raises(FileNotFoundError, match=r"b/[0-9a-f]{16}\.json\.gz: the test users of a compact run JSON"):
        run_files.expand_run(compact, str(tmp_path / "b"))


def test_files_compacted_in_place_report_the_same(tmp_path):
    """The report over compact files equals the report over the full ones, number for number."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "results" / "runs" / "b" / "ml-100k" / "SASRec"
    for variant in ("baseline", "kd"):
        for seed in (1, 2, 3):
            ranks = rng.integers(-1, 20, size=60).tolist()
            per_user = per_user_from_ranks(ranks)
            run = {"cell": {"dataset": "ml-100k", "model": "SASRec", "variant": variant, "seed": seed,
                            "command": f"python benchmarks/grid.py --variants {variant} --seeds {seed}"},
                   "test_result": {m: float(np.mean(per_user[m])) for m in report.METRICS},
                   "best_valid_result": {"ndcg@10": 0.05}, "per_user": per_user, "split": {"train": "t", "test": "s"},
                   "train_seconds_per_epoch": 1.0, "inference_seconds": 0.1, "peak_memory_mb": 10.0,
                   "epochs_trained": 5, "best_epoch": 3}
            (folder / variant).mkdir(parents=True, exist_ok=True)
            (folder / variant / f"seed{seed}.json").write_text(json.dumps(run))
    before = report.summarize(report.load_runs(str(tmp_path / "results"), "b"))
    changed = run_files.main([str(tmp_path / "results" / "runs")])
    assert len(changed) == 6 and run_files.main([str(tmp_path / "results" / "runs")]) == []  # a second pass: nothing
    assert json.loads((folder / "kd" / "seed1.json").read_text())["per_user"]["format"] == "rank-v1"
    after = report.summarize(report.load_runs(str(tmp_path / "results"), "b"))
    assert after == before
