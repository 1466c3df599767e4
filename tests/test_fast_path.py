"""fast_path: the fused GELU gives RecBole's loss and gradients to float32 rounding, for the
baselines and the KD models, in training and evaluation mode."""

import copy

import pytest
import torch
from recbole.model.layers import FeedForward
from recbole.utils import get_model, init_seed

from recbole_llmkd.fast_path import apply_fast_path, fast_path_enabled
from tests.conftest import build


@pytest.fixture(scope="module", params=["SASRec", "BERT4Rec", "SASRecKD", "BERT4RecKD"])
def pair(request, tmp_path_factory):
    """(stock model, the same weights on the fast path, a training batch)."""
    config_dict = {"kd_profile_file": str(request.getfixturevalue("profile_file")), "MAX_ITEM_LIST_LENGTH": 20,
                   "user_inter_num_interval": "[0,40]", "train_neg_sample_args": None, "train_batch_size": 256,
                   "checkpoint_dir": str(tmp_path_factory.mktemp("saved")), "state": "WARNING"}
    config, _, train, _, _ = build(request.param, config_dict)
    init_seed(2020, True)
    stock = get_model(request.param)(config, train._dataset)
    fast = copy.deepcopy(stock)
    assert apply_fast_path(fast) == config["n_layers"]
    init_seed(7, True)  # BERT4Rec masks at random
    return stock, fast, next(iter(train))


def loss_and_grads(model, batch, train):
    model.train(train)
    model.zero_grad(set_to_none=True)
    init_seed(11, True)  # the same dropout masks for both models
    loss = model.calculate_loss(batch)
    loss.backward()
    return loss.item(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_same_loss_and_gradients_as_stock_recbole(pair, train):
    stock, fast, batch = pair
    stock_loss, stock_grads = loss_and_grads(stock, batch, train)
    fast_loss, fast_grads = loss_and_grads(fast, batch, train)
    assert fast_loss == pytest.approx(stock_loss, rel=1e-6)
    assert stock_grads.keys() == fast_grads.keys()
    for name, grad in stock_grads.items():
        # float32: relative to the largest gradient entry of the tensor
        assert torch.allclose(fast_grads[name], grad, rtol=0, atol=1e-5 * grad.abs().max().item() + 1e-9), name


def test_only_the_gelu_blocks_change():
    block = FeedForward(8, 16, 0.1, "relu", 1e-12)
    assert apply_fast_path(torch.nn.Sequential(block)) == 0
    gelu_block = FeedForward(8, 16, 0.1, "gelu", 1e-12)
    x = torch.randn(4, 8)
    expected = gelu_block.gelu(x)
    assert apply_fast_path(torch.nn.Sequential(gelu_block)) == 1
    assert torch.allclose(gelu_block.intermediate_act_fn(x), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("value, expected", [(None, False), (False, False), (True, True)])
def test_fast_path_key(value, expected):
    assert fast_path_enabled({"fast_path": value}) is expected


def test_fast_path_key_must_be_a_bool():
    with pytest.raises(ValueError, match="'fast_path' is 'yes'"):
        fast_path_enabled({"fast_path": "yes"})
