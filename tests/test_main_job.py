"""The main job, end to end on a reduced config: shipped profiles of 60 users -> MiniLM -> PCA ->
.user file -> SASRec and SASRecKD (2 epochs: 1 distilling, 1 fine-tuning; 305 users) -> table, CSV and plot."""

import csv
import json
import os

import pytest

import run_recbole_kd
from recbole_llmkd.harness.main_job import MainJobError, TABLE_COLUMNS, check_same_split, model_pair


def test_model_pairs():
    assert model_pair("SASRec") == model_pair("SASRecKD") == ("SASRec", "SASRecKD")
    assert model_pair("BERT4RecKD") == ("BERT4Rec", "BERT4RecKD")
    with pytest.raises(MainJobError, match="GRU4Rec"):
        model_pair("GRU4Rec")


def test_different_splits_are_refused():
    runs = [{"model": "SASRec", "split": {"train": "a", "test": "b"}},
            {"model": "SASRecKD", "split": {"train": "a", "test": "c"}}]
    with pytest.raises(MainJobError, match="same split"):
        check_same_split(runs)


@pytest.mark.parametrize("argv, kept", [
    (["--pipeline", "-d", "ml-100k", "--epochs=1"], ["--epochs=1"]),
    (["--output_dir", "out", "--regenerate", "--profile_file=x.user", "--seed=3"], ["--seed=3"]),
    (["--profile_config", "a.yaml b.yaml", "-m", "BERT4Rec", "--config_files=c.yaml"], []),
    (["--pipeline", "--max_users=50", "--data_path=dataset"], ["--data_path=dataset"]),
])
def test_only_config_overrides_reach_recbole(argv, kept):
    assert run_recbole_kd.recbole_overrides(argv) == kept


@pytest.mark.slow
def test_main_job_on_a_reduced_config(run_dir):
    profile_yaml = run_dir / "profiles.yaml"
    profile_yaml.write_text("limit_users: 60\nreducer: pca\nn_components: 8\n")
    rows = run_recbole_kd.main([
        "--pipeline", "-d", "ml-100k", "--output_dir", "out", "--profile_config", str(profile_yaml),
        "--epochs=2", "--hidden_size=16", "--inner_size=32", "--MAX_ITEM_LIST_LENGTH=10",
        "--user_inter_num_interval=[0,40]", "--state=WARNING", "--show_progress=False",
    ])
    out = run_dir / "out"
    assert [row["model"] for row in rows] == ["SASRec", "SASRecKD"]
    with open(out / "results.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert tuple(table[0]) == TABLE_COLUMNS and [r["model"] for r in table] == ["SASRec", "SASRecKD"]
    for row in table:
        assert 0 <= float(row["recall@10"]) <= 1 and float(row["train_s_per_epoch"]) > 0
        assert float(row["inference_s"]) > 0 and row["epochs"] == "2"
    base = json.loads((out / "runs" / "SASRec.json").read_text())
    kd = json.loads((out / "runs" / "SASRecKD.json").read_text())
    assert base["split"] == kd["split"] and base["per_user"]["user_index"] == kd["per_user"]["user_index"]
    assert kd["config"]["kd_profile_file"] == os.path.join("out", "profiles", "ml-100k.user")
    assert [h["stage"] for h in kd["kd_history"]] == [1, 2] and kd["kd_history"][0]["profiled_examples"] > 0
    with open(out / "profiles" / "ml-100k.user") as f:
        assert sum(1 for _ in f) == 61  # header + the 60 profiled users
        f.seek(0)
        assert len(f.readlines()[1].split("\t")[1].split()) == 8
    report = json.loads((out / "results.json").read_text())
    assert report["split"] == base["split"] and report["rows"] == rows
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| model | recall@10 | ndcg@10 |" in (out / "results.md").read_text()


def test_profile_stage_reads_the_files_recbole_reads(run_dir):
    from recbole_llmkd.harness.main_job import recbole_data_path

    bundled = recbole_data_path("SASRec", "ml-100k", config_dict={"checkpoint_dir": "saved"})
    assert os.path.isfile(os.path.join(bundled, "ml-100k", "ml-100k.inter"))  # RecBole's own copy
    assert recbole_data_path("SASRec", "beauty", config_dict={"data_path": "dataset", "checkpoint_dir": "saved"}) \
        == "dataset"


@pytest.mark.slow
def test_bert4rec_pair_with_a_given_profile_file(run_dir, profile_file):
    rows = run_recbole_kd.main([
        "--pipeline", "-d", "ml-100k", "-m", "BERT4RecKD", "--output_dir", "out", "--profile_file", str(profile_file),
        "--epochs=2", "--hidden_size=16", "--inner_size=32", "--MAX_ITEM_LIST_LENGTH=10",
        "--user_inter_num_interval=[0,40]", "--state=WARNING", "--show_progress=False",
    ])
    assert [row["model"] for row in rows] == ["BERT4Rec", "BERT4RecKD"]
    assert not (run_dir / "out" / "profiles").exists()  # the profile stages were skipped
    kd = json.loads((run_dir / "out" / "runs" / "BERT4RecKD.json").read_text())
    assert kd["config"]["kd_profile_file"] == str(profile_file) and kd["kd_history"][0]["stage"] == 1


def test_comparison_line_states_the_change_and_the_single_seed():
    rows = [{"model": "SASRec", "ndcg@10": 0.05, "best_epoch": 8}, {"model": "SASRecKD", "ndcg@10": 0.052, "best_epoch": 11}]
    from recbole_llmkd.harness.main_job import comparison_line

    assert comparison_line(rows).startswith("SASRecKD vs SASRec: test NDCG@10 0.0520 vs 0.0500 (+4.0%), one seed, "
                                            "best epochs 11 and 8.")
