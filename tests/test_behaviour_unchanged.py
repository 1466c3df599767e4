"""Behaviour unchanged (issue 34, item 5): short, deterministic SASRec and SASRecKD runs on ml-100k (the
KD model with and without ``fast_path``) give exactly the metrics, per-user values, validation curve and ``kd_history`` recorded in
``tests/golden/short_run.json`` on the code before the package was reorganised.

Recorded on CPU with one torch thread (the thread count changes float32 summation order); rerecord
only for a change that is meant to move the numbers. ``kd_history``'s losses and spreads are unrounded
means whose last bits move with the CPU's float kernels (an AMD EPYC and the Intel Xeon they were recorded
on differ by about 1e-8 relative), so they are compared to :data:`UNROUNDED_REL`; every other value,
rounded as the run JSONs round them, exactly::

    OMP_NUM_THREADS=1 .venv/bin/python tests/test_behaviour_unchanged.py
"""

import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "golden", "short_run.json")
CONFIG = {"epochs": 2, "kd_epochs": 1, "hidden_size": 16, "inner_size": 32, "MAX_ITEM_LIST_LENGTH": 10,
          "user_inter_num_interval": "[0,40]", "train_batch_size": 256, "show_progress": False,
          "state": "WARNING", "topk": [10], "metrics": ["Recall", "NDCG"], "valid_metric": "NDCG@10",
          "use_gpu": False, "seed": 2020}
RECORDED = ("test_result", "best_valid_result", "valid_scores", "best_epoch", "per_user", "kd_history", "split",
            "fast_path_parts")
UNROUNDED_REL = 1e-6  # kd_history's floats: far above a CPU's last-bit differences, far below any change of behaviour


def short_runs(folder, profile_file):
    """The two runs, each reduced to what :data:`RECORDED` names."""
    import torch

    from recbole_llmkd.harness.experiment import train_and_test

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        config = {**CONFIG, "checkpoint_dir": os.path.join(folder, "saved")}
        runs = {"SASRec": train_and_test("SASRec", "ml-100k", config),
                "SASRecKD": train_and_test("SASRecKD", "ml-100k", {**config, "kd_profile_file": str(profile_file)}),
                # the fast path swaps GELU and dropout kernels: its own trajectory, recorded too
                "SASRecKD fast_path": train_and_test("SASRecKD", "ml-100k", {**config, "fast_path": True,
                                                                           "kd_profile_file": str(profile_file)})}
    finally:
        os.chdir(cwd)
        torch.set_num_threads(threads)
    return {name: {key: run[key] for key in RECORDED} for name, run in runs.items()}


@pytest.mark.slow
def test_short_runs_match_the_recorded_ones(tmp_path, profile_file):
    with open(GOLDEN, encoding="utf-8") as f:
        golden = json.load(f)
    runs = json.loads(json.dumps(short_runs(str(tmp_path), profile_file)))  # the same JSON round trip
    for model in ("SASRec", "SASRecKD", "SASRecKD fast_path"):
        for key in RECORDED:
            if key == "kd_history" and golden[model][key] is not None:
                assert [sorted(epoch) for epoch in runs[model][key]] == [sorted(epoch) for epoch in golden[model][key]]
                for ran, recorded in zip(runs[model][key], golden[model][key]):
                    assert ran == pytest.approx(recorded, rel=UNROUNDED_REL, abs=0), (model, key, recorded["epoch"])
                    assert (ran["epoch"], ran["stage"], ran["profiled_examples"]) == (
                        recorded["epoch"], recorded["stage"], recorded["profiled_examples"])
            else:
                assert runs[model][key] == golden[model][key], (model, key)
    assert golden["SASRec"]["kd_history"] is None and len(golden["SASRecKD"]["kd_history"]) == 2


if __name__ == "__main__":  # rerecord (see the module docstring)
    import tempfile

    sys.path.insert(0, os.path.dirname(HERE))
    import recbole_llmkd

    recbole_llmkd.register()
    from recbole_llmkd.formats.files import read_atomic, write_profile_file
    from recbole_llmkd.profiles.metadata import category_shares
    from tests.conftest import ML100K_DIR, USERS_WITHOUT_PROFILE

    with tempfile.TemporaryDirectory() as folder:  # the conftest's profile_file fixture, built the same way
        inter, _ = read_atomic(os.path.join(ML100K_DIR, "ml-100k.inter"))
        item, _ = read_atomic(os.path.join(ML100K_DIR, "ml-100k.item"))
        shares = category_shares(inter, item, "class")
        table = shares.drop(index=[u for u in shares.index if int(u) in USERS_WITHOUT_PROFILE])
        path = write_profile_file(os.path.join(folder, "ml-100k-genres.user"), table.index.tolist(), table.to_numpy())
        os.makedirs(os.path.join(folder, "run"))
        result = short_runs(os.path.join(folder, "run"), path)
    with open(GOLDEN, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"written: {GOLDEN}")
