"""A dataset of your own, as the README's "Your own dataset" section runs it: a MovieLens-format release
converted by ``dataset_converters`` under a name the package has never seen, then trained through
every entry point with the same ``--data_path`` and no other flag about the dataset (no
``--config_files``): the ``<name>.yaml`` the converter writes beside the files is read by training."""

import json
import os
import sys

import pytest

import run_recbole_kd
from dataset_converters.__main__ import main as convert_main
from recbole_llmkd.integration.quick_start import run_recbole_kd as quick_start_run
from tests.profiles.conftest import openai_server  # noqa: F401  (the fixture: a local OpenAI-format server)

NAME = "my-movies"  # no properties/dataset/my-movies.yaml: the converter's file is all there is
TINY_SETTINGS = {"epochs": 2, "kd_epochs": 1, "hidden_size": 16, "inner_size": 32, "MAX_ITEM_LIST_LENGTH": 10,
                 "state": "WARNING", "show_progress": False}
TINY = [f"--{key}={value}" for key, value in TINY_SETTINGS.items()]


@pytest.fixture
def converted(run_dir, movielens_sample):
    """``dataset/my-movies/`` in the run folder, written by the converter's command line."""
    assert convert_main(["movielens", "--input", movielens_sample, "--output", "dataset", "--name", NAME]) == 0
    assert sorted(os.listdir(run_dir / "dataset" / NAME)) == [f"{NAME}.inter", f"{NAME}.item", f"{NAME}.yaml"]
    return run_dir


@pytest.fixture
def no_llm(converted):
    """Profile pipeline options that run no LLM: the item-mean teacher, PCA to 4 dims (40 users)."""
    path = converted / "profiles.yaml"
    path.write_text("source: item_mean\nreducer: pca\nn_components: 4\n")
    return str(path)


@pytest.mark.slow
def test_the_pipeline_runs_on_a_converted_dataset_of_any_name(converted, no_llm, monkeypatch):
    argv = ["--pipeline", "-d", NAME, "--data_path=dataset", "--profile_config", no_llm, *TINY]
    monkeypatch.setattr(sys, "argv", ["run_recbole_kd.py", *argv])
    rows = run_recbole_kd.main(argv)
    assert [row["model"] for row in rows] == ["SASRec", "SASRecKD"]
    assert all(0 <= row["ndcg@10"] <= 1 and row["epochs"] == 2 for row in rows)
    out = converted / "output" / NAME / "pipeline"
    kd = json.loads((out / "runs" / "SASRecKD.json").read_text())
    # the converter's yaml was read (without it RecBole stops: "[timestamp] is not exist in interaction"):
    # every one of the 40 users is tested, all 40 have a profile
    assert kd["config"]["data_path"] == os.path.join("dataset", NAME)
    assert sorted(kd["per_user"]["user"], key=int) == [str(u) for u in range(1, 41)]
    assert kd["kd_history"][0]["stage"] == 1 and kd["kd_history"][0]["profiled_examples"] > 0
    with open(out / "profiles" / f"{NAME}.user") as f:
        assert sum(1 for _ in f) == 41  # header + 40 users
    assert "| SASRecKD |" in (out / "results.md").read_text()


@pytest.fixture
def profile_file(converted, no_llm):
    """The item-mean profiles of the converted dataset, built by the profile pipeline's command line."""
    from recbole_llmkd.profiles.cli import main as profiles_main

    profiles_main(["all", "-d", NAME, "--data-path", "dataset", "--config", no_llm, "--output-dir", "profiles",
                   "--quiet"])
    return os.path.join("profiles", f"{NAME}.user")


@pytest.mark.slow
@pytest.mark.parametrize("entry", ["command line", "quick_start"])
def test_data_path_works_the_same_for_single_runs(profile_file, entry, monkeypatch):
    if entry == "command line":
        argv = ["-m", "SASRecKD", "-d", NAME, "--data_path=dataset", f"--kd_profile_file={profile_file}", *TINY]
        monkeypatch.setattr(sys, "argv", ["run_recbole_kd.py", *argv])  # RecBole's Config reads sys.argv
        result = run_recbole_kd.main(argv)
    else:
        monkeypatch.setattr(sys, "argv", ["python"])
        result = quick_start_run("SASRecKD", NAME, config_dict={**TINY_SETTINGS, "data_path": "dataset",
                                                                 "kd_profile_file": profile_file})
    assert 0 <= result["test_result"]["ndcg@10"] <= 1


@pytest.mark.slow
def test_max_users_profiles_a_sample_and_trains_everyone(converted, openai_server, monkeypatch, capsys):
    """The LLM source with ``--max_users``: the cost line first, 10 of 40 users profiled, all 40 trained."""
    served = converted / "served.yaml"
    served.write_text(f"backend: openai\nbase_url: {openai_server.base_url}\nmodel: tiny\ncontext_length: 4096\n"
                      "reducer: pca\nn_components: 4\n")
    argv = ["--pipeline", "-d", NAME, "--data_path=dataset", "--max_users=10", "--profile_config", str(served), *TINY]
    monkeypatch.setattr(sys, "argv", ["run_recbole_kd.py", *argv])
    run_recbole_kd.main(argv)
    printed = capsys.readouterr().out
    assert f"generate {NAME} [0/1]: 10 users to generate (0 cached), about " in printed
    assert len(openai_server.requests) == 10
    out = converted / "output" / NAME / "pipeline"
    with open(out / "profiles" / f"{NAME}.user") as f:
        assert sum(1 for _ in f) == 11  # header + the 10 sampled users
    kd = json.loads((out / "runs" / "SASRecKD.json").read_text())
    assert len(kd["per_user"]["user"]) == 40 and kd["kd_history"][0]["profiled_examples"] > 0
