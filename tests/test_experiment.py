"""train_and_test: RecBole's run plus timings, per-user metrics and the split fingerprint."""

import hashlib
import os
import subprocess

import numpy as np
import pytest

from recbole_llmkd.harness.experiment import cpu_description, git_state, train_and_test


@pytest.fixture(scope="module")
def runs(tmp_path_factory, profile_file):
    import os

    folder = tmp_path_factory.mktemp("experiment")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        config = {"epochs": 2, "kd_epochs": 1, "hidden_size": 16, "inner_size": 32, "MAX_ITEM_LIST_LENGTH": 10,
                  "user_inter_num_interval": "[0,40]", "train_batch_size": 256, "show_progress": False,
                  "state": "WARNING", "checkpoint_dir": str(folder / "saved"), "topk": [10, 20],
                  "metrics": ["Recall", "NDCG", "Hit", "MRR"]}
        base = train_and_test("SASRec", "ml-100k", config)
        lines = []
        kd = train_and_test("SASRecKD", "ml-100k", {**config, "kd_profile_file": str(profile_file)},
                            epoch_line=lines.append)
        kd["lines"] = lines
    finally:
        os.chdir(cwd)
    return base, kd


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["recall@10", "ndcg@10", "recall@20", "ndcg@20", "hit@10", "mrr@20"])
def test_per_user_means_are_recboles_metrics(runs, metric):
    for run in runs:
        values = run["per_user"][metric]
        assert len(values) == len(run["per_user"]["user_index"]) == 305  # users with <= 40 interactions
        assert np.mean(values) == pytest.approx(run["test_result"][metric], abs=5e-5)  # RecBole rounds to 4 places


@pytest.mark.slow
def test_same_split_and_users_for_baseline_and_kd(runs):
    base, kd = runs
    assert base["split"] == kd["split"]
    assert base["per_user"]["user_index"] == kd["per_user"]["user_index"]
    assert base["model"] == "SASRec" and kd["model"] == "SASRecKD"


@pytest.mark.slow
def test_timings_and_history(runs):
    base, kd = runs
    for run in runs:
        assert run["epochs_trained"] == 2 and len(run["epoch_seconds"]) == 2
        assert run["train_seconds_per_epoch"] > 0 and run["inference_seconds"] > 0
        assert run["best_epoch"] in (0, 1) and run["peak_memory_mb"] > 0
        assert run["config"]["MAX_ITEM_LIST_LENGTH"] == 10 and run["environment"]["recbole"] == "1.2.1"
        assert run["environment"]["cpu"] == cpu_description()
    assert base["kd_history"] is None
    assert [(h["epoch"], h["stage"]) for h in kd["kd_history"]] == [(0, 1), (1, 2)]
    assert kd["config"]["kd_alpha"] == 0.1 and kd["config"]["kd_direction"] == "hidden_to_profile"


@pytest.mark.slow
def test_runs_record_commit_profile_hash_and_versions(runs, profile_file):
    base, kd = runs
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    head = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    for run in runs:
        assert run["git_commit"] == head and isinstance(run["git_dirty"], bool)
        assert run["environment"]["packages"]["recbole"] == "1.2.1" and run["environment"]["packages"]["torch"]
    assert base["profile_sha256"] is None and base["profile_file"] is None
    with open(profile_file, "rb") as f:
        assert kd["profile_sha256"] == hashlib.sha256(f.read()).hexdigest()
    assert kd["profile_file"] == os.path.abspath(profile_file)


def test_git_state_outside_a_checkout(tmp_path):
    assert git_state(str(tmp_path)) == (None, None)


@pytest.mark.slow
def test_per_user_tokens_are_raw_user_ids(runs):
    per_user = runs[0]["per_user"]
    assert len(per_user["user"]) == len(per_user["user_index"])
    assert all(token.isdigit() and 1 <= int(token) <= 943 for token in per_user["user"])
    assert len(set(per_user["user"])) == len(per_user["user"])


@pytest.mark.slow
def test_validation_curve_and_epoch_lines(runs):
    base, kd = runs
    for run in runs:
        assert len(run["valid_scores"]) == run["epochs_trained"] == 2
        assert max(run["valid_scores"]) == pytest.approx(run["best_valid_score"], abs=1e-6)
        assert run["valid_scores"][run["best_epoch"]] == pytest.approx(run["best_valid_score"], abs=1e-6)
    assert len(kd["lines"]) == 2
    assert kd["lines"][0].startswith("SASRecKD epoch 0: ")
    assert "valid MRR@10 " in kd["lines"][0] and "| stage 1, L_rec " in kd["lines"][0] and "L_distil" in kd["lines"][0]
    assert "| stage 2, L_rec " in kd["lines"][1] and "L_distil" not in kd["lines"][1]


def test_quiet_console_keeps_info_in_the_file_only(tmp_path):
    import logging

    from recbole_llmkd.integration.quick_start import quiet_console_handlers

    root = logging.getLogger()
    console, file = logging.StreamHandler(), logging.FileHandler(tmp_path / "x.log")
    for handler in (console, file):
        handler.setLevel(logging.INFO)
        root.addHandler(handler)
    try:
        quiet_console_handlers()
        assert console.level == logging.WARNING and file.level == logging.INFO
    finally:
        for handler in (console, file):
            root.removeHandler(handler)
        file.close()


@pytest.mark.parametrize("flags, expected", [
    ("fpu sse avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_int8 amx_tile",
     "Intel(R) Xeon(R) Platinum 8480+ (avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_int8)"),
    ("fpu sse sse2", "Intel(R) Xeon(R) Platinum 8480+"),
])
def test_cpu_description_names_the_matmul_instruction_sets(tmp_path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: {flags}\n\n"
                       f"processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: {flags}\n")
    assert cpu_description(str(cpuinfo)) == expected


def test_cpu_description_without_proc(tmp_path):
    import platform

    assert cpu_description(str(tmp_path / "none")) == (platform.processor() or platform.machine())
