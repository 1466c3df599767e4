"""KDTrainer: the stage switch, early switching, the optimizer choice, a single stage, the schedule-only
control, logging and checkpoints."""

import logging

import pytest
import torch
from recbole.utils import init_seed

from recbole.model.sequential_recommender.sasrec import SASRec

from recbole_llmkd.model import SASRecKD
from recbole_llmkd.integration.quick_start import load_data_and_model
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


def worsening(trainer, n=8):
    """Make every validation worse than the one before (so patience runs out on schedule)."""
    scores = iter([0.5 - 0.05 * i for i in range(n)])

    def validation(valid_data, show_progress=False):
        score = next(scores)
        return score, {"ndcg@10": score}

    trainer._valid_epoch = validation


def test_single_stage_distils_to_the_end_without_switch_or_rebuild(setup):
    trainer, train, valid, _ = setup(epochs=4, kd_epochs=1, kd_stages=1)
    before = trainer.optimizer
    trainer.fit(train, valid, saved=False)
    assert [h["stage"] for h in trainer.kd_history] == [1, 1, 1, 1]
    assert all(h["L_distil"] > 0 and h["profiled_examples"] > 0 for h in trainer.kd_history)
    assert trainer.kd_switch_epoch is None and trainer.model.kd_active is True
    assert trainer.optimizer is before


def test_single_stage_stops_as_recbole_does(setup):
    """No patience reset: a stalled single-stage run ends where RecBole's own trainer ends it."""
    trainer, train, valid, _ = setup(epochs=8, kd_epochs=6, stopping_step=1, kd_stages=1)
    worsening(trainer)
    trainer.fit(train, valid, saved=False)
    assert [h["stage"] for h in trainer.kd_history] == [1, 1, 1]  # two-stage: [1, 1, 2, 2]
    assert trainer.kd_switch_epoch is None


@pytest.mark.parametrize("stages", [0, 3, True, "two", 1.0])
def test_bad_kd_stages(setup, stages):
    with pytest.raises(ValueError, match=r"config key 'kd_stages' is .*; expected 2 .* or 1"):
        setup(kd_stages=stages)


def test_schedule_only_control_trains_on_the_parents_loss(setup, build_data, tiny_config):
    """kd_alpha 0 (the grid's ``kd_schedule``): the stage-1 loss is exactly the parent SASRec's
    L_rec on the same weights and batch, and no distillation term is computed."""
    trainer, train, *_ = setup(kd_alpha=0.0)
    kd = trainer.model.eval()
    config, *_ = build_data("SASRec", tiny_config)
    parent = SASRec(config, train._dataset)
    parent.load_state_dict(kd.serving_state_dict(), strict=True)
    parent.eval()
    kd.set_distillation(True)
    for i, batch in zip(range(3), train):
        parts = kd.calculate_kd_loss(batch)
        expected = parent.calculate_loss(batch)
        assert torch.equal(parts.total, expected) and torch.equal(parts.rec, expected)
        assert parts.distil.item() == 0.0 and parts.n_profiled.item() == 0


@pytest.mark.parametrize("kd_epochs, stopping_step, switch", [(2, 100, 2), (3, 1, 2)])
def test_schedule_only_control_switches_like_the_kd_run(setup, kd_epochs, stopping_step, switch):
    """Same switch epoch (by kd_epochs, or by a stalled stage 1), same optimizer rebuild, same
    patience reset, with or without the distillation term."""
    runs = {}
    for alpha in (0.0, 0.1):
        trainer, train, valid, _ = setup(epochs=5, kd_epochs=kd_epochs, stopping_step=stopping_step, kd_alpha=alpha)
        if stopping_step == 1:
            worsening(trainer)
        before = trainer.optimizer
        trainer.fit(train, valid, saved=False)
        runs[alpha] = trainer
        assert trainer.kd_switch_epoch == switch and trainer.optimizer is not before
    assert [h["stage"] for h in runs[0.0].kd_history] == [h["stage"] for h in runs[0.1].kd_history]
    assert all(h["L_distil"] == 0.0 for h in runs[0.0].kd_history)
    assert all(h["L_distil"] > 0 for h in runs[0.1].kd_history if h["stage"] == 1)


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
