"""Shipped presets: the paper's recipe reaches the baseline and the KD model alike, user settings win."""

import pytest
import torch
from recbole.config import Config
from recbole.trainer import Trainer
from recbole.utils import get_model, init_seed

from recbole_llmkd.integration.presets import available_presets, preset_file, with_preset
from recbole_llmkd.trainer import KDTrainer
from tests.conftest import build


def test_shipped_presets():
    assert "paper" in available_presets()
    assert preset_file("paper").endswith("presets/paper.yaml")
    with pytest.raises(ValueError, match=r"unknown preset 'papr'; shipped presets: \[.*'paper'"):
        preset_file("papr")


def test_preset_comes_first_so_the_user_files_override_it():
    assert with_preset("paper", ["mine.yaml"]) == [preset_file("paper"), "mine.yaml"]
    assert with_preset(None, ["mine.yaml"]) == ["mine.yaml"]


@pytest.mark.parametrize("model, trainer_class", [("SASRec", Trainer), ("SASRecKD", KDTrainer)])
def test_paper_preset_sets_the_authors_optimisation_for_both_models(build_data, tiny_config, model, trainer_class):
    config = Config(model=model, dataset="ml-100k", config_file_list=[preset_file("paper")],
                    config_dict={**tiny_config, "train_neg_sample_args": None, "kd_alpha": 0.25})
    assert (config["learner"], config["weight_decay"], config["clip_grad_norm"]) == ("adamw", 0.01, {"max_norm": 0.5})
    if model == "SASRecKD":
        assert config["kd_alpha"] == 0.25  # the config dict overrides the preset
        assert (config["kd_dynamic_scale"], config["kd_direction"], config["kd_reset_optimizer"]) == \
            (True, "profile_to_hidden", False)
    _, _, train, _, _ = build_data(model, {**tiny_config, "train_neg_sample_args": None, "learner": "adamw",
                                           "weight_decay": 0.01})
    init_seed(1, True)
    trainer = trainer_class(config, get_model(model)(config, train._dataset))
    assert isinstance(trainer.optimizer, torch.optim.AdamW)
    assert trainer.optimizer.param_groups[0]["weight_decay"] == 0.01
    assert trainer.clip_grad_norm == {"max_norm": 0.5}
