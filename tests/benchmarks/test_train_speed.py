"""benchmarks/train_speed.py: the trainers it times side by side start from the same weights."""

import pytest
import torch

from benchmarks import train_speed
from recbole_llmkd.fast_path import FastDropout


@pytest.mark.parametrize("model, trainers", [("SASRec", ["stock", "fast_path"]),
                                              ("BERT4Rec", ["stock", "fast_path", "full_loss"])])
def test_the_timed_trainers(run_dir, model, trainers):
    built, train, config = train_speed.build(model, "ml-100k", {"state": "WARNING", "epochs": 1,
                                                               "user_inter_num_interval": "[0,40]"}, [])
    assert list(built) == trainers
    nets = {name: trainer.model for name, trainer in built.items()}
    stock = nets["stock"].state_dict()
    for net in nets.values():
        assert all(torch.equal(stock[k], v) for k, v in net.state_dict().items())
    # the masked-slot loss is the fast path's; "full_loss" is back on RecBole's own
    assert ("calculate_loss" in vars(nets["fast_path"])) == (model == "BERT4Rec")
    assert "calculate_loss" not in vars(nets["stock"])
    if model == "BERT4Rec":
        assert "calculate_loss" not in vars(nets["full_loss"])
    # the fast path's dropout everywhere but in the stock model
    for name, net in nets.items():
        assert any(isinstance(m, FastDropout) for m in net.modules()) == (name != "stock"), name
