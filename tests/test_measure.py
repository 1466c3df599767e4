"""measured_trainer: RecBole's trainers, subclassed, time epochs, note the best epoch and keep per-user metrics."""

import numpy as np
import pytest
from recbole.trainer import Trainer
from recbole.utils import get_trainer

from recbole_llmkd.integration.quick_start import build_model
from recbole_llmkd.harness.measure import MeasuredTrainerMixin, PerUserEvaluator, UserCollector, measured_trainer
from recbole_llmkd.trainer import KDTrainer


@pytest.mark.parametrize("base", [Trainer, KDTrainer])
def test_one_subclass_per_trainer_class(base):
    cls = measured_trainer(base)
    assert issubclass(cls, base) and issubclass(cls, MeasuredTrainerMixin)
    assert cls.__mro__[1] is MeasuredTrainerMixin  # its hooks wrap the trainer's own overrides
    assert measured_trainer(base) is cls


@pytest.mark.parametrize("model", ["SASRec", "SASRecKD"])
def test_fit_and_evaluate_record_what_recbole_computed(build_data, tiny_config, model):
    config, _, train, valid, test = build_data(model, {**tiny_config, "epochs": 3, "kd_epochs": 1,
                                                       "topk": [10], "metrics": ["NDCG", "Hit"],
                                                       "valid_metric": "NDCG@10"})
    net, _ = build_model(config, train)
    trainer = measured_trainer(get_trainer(config["MODEL_TYPE"], model))(config, net)
    assert isinstance(trainer.eval_collector, UserCollector) and isinstance(trainer.evaluator, PerUserEvaluator)
    valid_scores = []
    trainer.fit(train, valid, saved=True, show_progress=False,
                callback_fn=lambda epoch, score: valid_scores.append(score))
    assert len(trainer.epoch_seconds) == 3 and all(s > 0 for s in trainer.epoch_seconds)
    # RecBole saves at every improvement: the last save is at the best validation score
    assert valid_scores[trainer.best_epoch] == max(valid_scores) == trainer.best_valid_score
    if model == "SASRecKD":
        assert [entry["stage"] for entry in trainer.kd_history] == [1, 2, 2]  # KDTrainer's hook ran inside ours

    trainer.forget_evaluated_users()
    result = trainer.evaluate(test, load_best_model=True, show_progress=False)
    per_user = trainer.per_user(test._dataset)
    assert len(per_user["user_index"]) == len(per_user["ndcg@10"]) == len(per_user["hit@10"]) == 305
    assert len(set(per_user["user_index"])) == 305
    assert per_user["user"][:3] == [str(t) for t in test._dataset.id2token("user_id", per_user["user_index"][:3])]
    for metric in ("ndcg@10", "hit@10"):
        assert np.mean(per_user[metric]) == pytest.approx(result[metric], abs=5e-5)  # RecBole rounds to 4 places
    assert set(per_user["hit@10"]) <= {0.0, 1.0}


def test_without_saving_no_best_epoch(build_data, tiny_config):
    config, _, train, valid, _ = build_data("SASRec", {**tiny_config, "epochs": 1})
    net, _ = build_model(config, train)
    trainer = measured_trainer(Trainer)(config, net)
    trainer.fit(train, valid, saved=False, show_progress=False)
    assert trainer.best_epoch is None and len(trainer.epoch_seconds) == 1
