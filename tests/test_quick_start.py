"""End to end: our entry points, RecBole's own run_recbole, the CLI, and the YAML defaults."""

import os
import subprocess
import sys

import pytest
import recbole
import yaml
from recbole.config import Config
from recbole.quick_start import run_recbole

from recbole_llmkd.integration.quick_start import build_config, run_recbole_kd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METRICS = {"recall@10", "mrr@10", "ndcg@10", "hit@10", "precision@10"}


def recbole_yaml(model):
    path = os.path.join(os.path.dirname(recbole.__file__), "properties", "model", f"{model}.yaml")
    with open(path) as f:
        return yaml.load(f, Loader=Config(model="SASRec", dataset="ml-100k",
                                          config_dict={"train_neg_sample_args": None}).yaml_loader)


# the shipped kd_* defaults: the recipe chosen on validation (results/converged/selection.md)
KD_DEFAULTS = {"kd_alpha": 0.1, "kd_dynamic_scale": False, "kd_beta_max": None, "kd_layer": -1,
               "kd_aggregation": "mean", "kd_direction": "hidden_to_profile", "kd_projection": "learned",
               "kd_loss": "infonce", "kd_temperature": 0.1, "kd_standardize": True, "kd_epochs": None,
               "kd_reset_optimizer": True, "kd_profile_field": "profile_emb"}


@pytest.mark.parametrize("model, parent", [("SASRecKD", "SASRec"), ("BERT4RecKD", "BERT4Rec")])
def test_kd_models_keep_every_parent_default(model, parent, tmp_path):
    config = Config(model=model, dataset="ml-100k", config_dict={"checkpoint_dir": str(tmp_path)})
    for key, value in recbole_yaml(parent).items():
        assert config[key] == value, key
    assert {k: config[k] for k in KD_DEFAULTS} == KD_DEFAULTS
    override = Config(model=model, dataset="ml-100k",
                      config_dict={"kd_alpha": 0.1, "n_layers": 3})
    assert override["kd_alpha"] == 0.1 and override["n_layers"] == 3


def test_baseline_config_is_untouched_by_the_plugin():
    config = Config(model="SASRec", dataset="ml-100k", config_dict={"train_neg_sample_args": None})
    assert not any(key.startswith("kd_") for key in config.final_config_dict)


@pytest.mark.parametrize(
    "model, given, distribution",
    [
        ("SASRec", {}, "none"),  # CE: RecBole's uniform default would raise
        ("BERT4Rec", {}, "none"),
        ("SASRec", {"loss_type": "BPR"}, "uniform"),  # BPR keeps RecBole's negative sampling
        ("GRU4Rec", {"train_neg_sample_args": {"distribution": "uniform", "sample_num": 1}, "loss_type": "BPR"},
         "uniform"),
    ],
)
def test_ce_models_get_no_negative_sampling_unless_set(model, given, distribution, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["pytest"])
    assert build_config(model, "ml-100k", None, given)["train_neg_sample_args"]["distribution"] == distribution


def test_negative_sampling_set_by_the_user_stays_for_ce(tmp_path, monkeypatch):
    """Set in a config file or a flag, it reaches RecBole's own check, which refuses it for CE."""
    monkeypatch.setattr(sys, "argv", ["pytest"])
    path = tmp_path / "neg.yaml"
    path.write_text("train_neg_sample_args: {distribution: uniform, sample_num: 1}\n")
    with pytest.raises(ValueError, match="should be None when the loss_type is CE"):
        build_config("SASRec", "ml-100k", [str(path)])


def check_result(result):
    assert set(result["test_result"]) == METRICS
    assert all(0.0 <= v <= 1.0 for v in result["test_result"].values())
    assert result["best_valid_score"] == result["best_valid_result"]["mrr@10"]


@pytest.mark.slow
@pytest.mark.parametrize("model", ["SASRecKD", "BERT4RecKD", "SASRec", "BERT4Rec"])
def test_run_recbole_kd(run_dir, tiny_config, model):
    check_result(run_recbole_kd(model=model, dataset="ml-100k", config_dict=tiny_config))
    assert os.listdir(tiny_config["checkpoint_dir"])[0].startswith(f"{model}-")


@pytest.mark.slow
def test_recboles_own_run_recbole_finds_the_kd_models(run_dir, tiny_config):
    check_result(run_recbole(model="SASRecKD", dataset="ml-100k", config_dict=tiny_config))


@pytest.mark.slow
def test_command_line(run_dir, tiny_config):
    flags = [f"--{k}={v}" for k, v in tiny_config.items() if k != "state" and v is not None]
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "run_recbole_kd.py"), "-m", "BERT4RecKD", "-d", "ml-100k",
         *flags, "--kd_layer=0", "--kd_aggregation=attention"],
        cwd=run_dir, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert "kd_layer = 0" in log and "kd_aggregation = attention" in log
    assert "epoch 0 stage 1 [L_rec:" in log and "epoch 1 stage 2 [L_rec:" in log
    assert "test result" in log
