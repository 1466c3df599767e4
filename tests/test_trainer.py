"""KDTrainer: the stage switch, early switching, the optimizer choice, logging and checkpoints."""

import logging

import pytest
import torch
from recbole.utils import init_seed

from recbole_llmkd.model import SASRecKD
from recbole_llmkd.quick_start import load_data_and_model
from recbole_llmkd.trainer import KDTrainer


@pytest.fixture
def setup(build_data, tiny_config):
    def make(**overrides):
        config, _, train, valid, test = build_data("SASRecKD", {**tiny_config, **overrides})
        init_seed(config["seed"], True)
        model = SASRecKD(config, train._dataset)
        return KDTrainer(config, model), train, valid, test

    return make


def test_stages_switch_after_kd_epochs(setup, caplog):
    trainer, train, valid, _ = setup(epochs=3, kd_epochs=2, kd_dynamic_scale=True, kd_reset_optimizer=False)
    with caplog.at_level(logging.INFO):
        trainer.fit(train, valid, saved=False)
    assert [h["stage"] for h in trainer.kd_history] == [1, 1, 2]
    assert trainer.kd_switch_epoch == 2 and trainer.model.kd_active is False
    for h in trainer.kd_history[:2]:
        assert h["L_distil"] > 0 and h["L_rec"] > 0 and h["profiled_examples"] > 0
        assert h["beta"] == pytest.approx(h["L_rec"] / h["L_distil"], rel=0.5)  # batch means of ratios
    assert trainer.kd_history[2]["L_distil"] == 0.0 and trainer.kd_history[2]["beta"] == 0.0
    assert "epoch 0 stage 1 [L_rec:" in caplog.text and ", L_distil:" in caplog.text and "beta:" in caplog.text
    assert "epoch 2: stage 2 (fine-tuning on L_rec) starts [kd_epochs=2; optimizer kept]" in caplog.text


def test_default_kd_epochs_is_half_of_epochs(setup):
    trainer, *_ = setup(epochs=7, kd_epochs=None)
    assert trainer.kd_epochs == 3


@pytest.mark.parametrize("kd_epochs", [-1, 3, "abc", 1.5])
def test_kd_epochs_out_of_range(setup, kd_epochs):
    with pytest.raises(ValueError, match="kd_epochs"):
        setup(epochs=2, kd_epochs=kd_epochs)


def test_stalled_stage_one_switches_early_instead_of_stopping(setup):
    trainer, train, valid, _ = setup(epochs=8, kd_epochs=6, stopping_step=1)
    scores = iter([0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.01, 0.0])  # validation only gets worse

    def worsening_validation(valid_data, show_progress=False):
        score = next(scores)
        return score, {"mrr@10": score}

    trainer._valid_epoch = worsening_validation
    trainer.fit(train, valid, saved=False)
    # epoch 1 is the first stall; epoch 2 would have stopped the run in stage 1, so it starts
    # stage 2 with fresh patience; RecBole's early stopping then ends the run after epoch 3
    assert [h["stage"] for h in trainer.kd_history] == [1, 1, 2, 2]
    assert trainer.kd_switch_epoch == 2


@pytest.mark.parametrize("reset, same_object", [(False, True), (True, False)])
def test_optimizer_kept_or_rebuilt_at_the_switch(setup, reset, same_object):
    trainer, train, valid, _ = setup(epochs=2, kd_epochs=1, kd_reset_optimizer=reset)
    before = trainer.optimizer
    trainer.fit(train, valid, saved=False)
    assert (trainer.optimizer is before) is same_object


def test_checkpoint_round_trip(setup):
    trainer, train, valid, test = setup(epochs=2, kd_epochs=1)
    trainer.fit(train, valid, saved=True)
    result = trainer.evaluate(test, load_best_model=True)
    checkpoint = torch.load(trainer.saved_model_file)  # torch's safe default, weights_only=True
    assert checkpoint["config"]["model"] == "SASRecKD"
    assert any(key.startswith("kd_head.") for key in checkpoint["state_dict"])

    config, model, _, _, _, test_again = load_data_and_model(trainer.saved_model_file)
    assert isinstance(model, SASRecKD)
    model.eval()
    trainer.model.eval()
    batch = next(iter(test_again))[0]
    assert torch.equal(model.full_sort_predict(batch), trainer.model.full_sort_predict(batch))
    reloaded = KDTrainer(config, model).evaluate(test_again, load_best_model=False)
    assert dict(reloaded) == dict(result)


def test_resume_continues_in_the_right_stage(setup):
    trainer, train, valid, _ = setup(epochs=2, kd_epochs=1)
    trainer.fit(train, valid, saved=True)
    resumed, *_ = setup(epochs=3, kd_epochs=1)
    resumed.resume_checkpoint(trainer.saved_model_file)
    resumed.fit(train, valid, saved=False)
    assert [h["epoch"] for h in resumed.kd_history] == [2]
    assert resumed.kd_history[0]["stage"] == 2
