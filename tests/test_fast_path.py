"""fast_path: the fused GELU and the cheaper dropout masks give RecBole's loss and gradients to float32
rounding wherever no random mask is drawn (training with dropout at 0, evaluation), for the baselines
and the KD models; the masks themselves are dropout's (kept with probability 1 − p, scaled by 1/(1 − p))."""

import copy
import types

import pytest
import torch
import torch.nn.functional as F
from recbole.model.layers import FeedForward
from recbole.utils import get_model, init_seed
from torch import nn

from recbole_llmkd.fast_path import FastDropout, apply_fast_path, fast_path_enabled
from tests.conftest import build

# every nn.Dropout of the model: the embedding dropout, then per block attention probabilities,
# attention output and feed-forward output
DROPOUTS = {"SASRec": 7, "BERT4Rec": 7, "SASRecKD": 7, "BERT4RecKD": 7}


@pytest.fixture(scope="module", params=list(DROPOUTS))
def pair(request, tmp_path_factory):
    """(model name, stock model, the same weights on the fast path, a training batch)."""
    config_dict = {"kd_profile_file": str(request.getfixturevalue("profile_file")), "MAX_ITEM_LIST_LENGTH": 20,
                   "user_inter_num_interval": "[0,40]", "train_neg_sample_args": None, "train_batch_size": 256,
                   "checkpoint_dir": str(tmp_path_factory.mktemp("saved")), "state": "WARNING"}
    config, _, train, _, _ = build(request.param, config_dict)
    init_seed(2020, True)
    stock = get_model(request.param)(config, train._dataset)
    fast = copy.deepcopy(stock)
    assert apply_fast_path(fast) == {"gelu": config["n_layers"], "dropout": DROPOUTS[request.param],
                                     "masked_item_loss": int(request.param.startswith("BERT4Rec"))}
    init_seed(7, True)  # BERT4Rec masks items at random
    return request.param, stock, fast, next(iter(train))


def without_dropout(model):
    model = copy.deepcopy(model)
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    return model


def loss_and_grads(model, batch, train):
    model.train(train)
    model.zero_grad(set_to_none=True)
    init_seed(11, True)  # BERT4Rec's item masks: the same for both models
    loss = model.calculate_loss(batch)
    loss.backward()
    return loss.item(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_same_loss_and_gradients_as_stock_recbole(pair, train):
    _, stock, fast, batch = pair
    if train:  # the random masks differ by design; everything else must not
        stock, fast = without_dropout(stock), without_dropout(fast)
    stock_loss, stock_grads = loss_and_grads(stock, batch, train)
    fast_loss, fast_grads = loss_and_grads(fast, batch, train)
    assert fast_loss == pytest.approx(stock_loss, rel=1e-6)
    assert stock_grads.keys() == fast_grads.keys()
    for name, grad in stock_grads.items():
        # float32: relative to the largest gradient entry of the tensor
        assert torch.allclose(fast_grads[name], grad, rtol=0, atol=1e-5 * grad.abs().max().item() + 1e-9), name


def test_same_rankings_as_stock_recbole(pair):
    name, stock, fast, batch = pair
    stock.eval(), fast.eval()
    with torch.no_grad():
        assert torch.allclose(fast.full_sort_predict(batch), stock.full_sort_predict(batch), rtol=0, atol=1e-4)


def test_every_dropout_is_replaced(pair):
    _, _, fast, _ = pair
    kinds = {type(m) for m in fast.modules() if isinstance(m, nn.Dropout)}
    assert kinds == {FastDropout}


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_fast_dropout_keeps_and_scales_like_dropout(p):
    x = torch.randn(1000, 1000, requires_grad=True)
    torch.manual_seed(3)
    kept = torch.rand(1000, 1000) >= p  # the draw FastDropout makes
    torch.manual_seed(3)
    out = FastDropout(p)(x)
    assert torch.equal(out != 0, kept)
    assert torch.allclose(out, torch.where(kept, x / (1 - p), torch.zeros(())), rtol=1e-6, atol=0)
    grad = torch.randn(1000, 1000)
    out.backward(grad)
    assert torch.allclose(x.grad, torch.where(kept, grad / (1 - p), torch.zeros(())), rtol=1e-6, atol=0)
    # a million Bernoulli(1 - p) draws: the kept share is within 5 standard deviations of 1 - p
    share = kept.float().mean().item()
    assert abs(share - (1 - p)) < 5 * ((p * (1 - p)) / 1e6) ** 0.5


def test_fast_dropout_edge_cases():
    x = torch.randn(50, 8)
    dropout = FastDropout(0.5)
    dropout.eval()
    assert dropout(x) is x
    assert FastDropout(0.0)(x) is x
    assert torch.equal(FastDropout(1.0)(x), torch.zeros_like(x))
    torch.manual_seed(5)
    first = FastDropout(0.3)(x)
    torch.manual_seed(5)
    assert torch.equal(FastDropout(0.3)(x), first)  # reproducible under one seed


def test_only_the_gelu_blocks_change_their_activation():
    block = FeedForward(8, 16, 0.1, "relu", 1e-12)
    assert apply_fast_path(torch.nn.Sequential(block)) == {"gelu": 0, "dropout": 1, "masked_item_loss": 0}
    gelu_block = FeedForward(8, 16, 0.1, "gelu", 1e-12)
    x = torch.randn(4, 8)
    expected = gelu_block.gelu(x)
    assert apply_fast_path(torch.nn.Sequential(gelu_block)) == {"gelu": 1, "dropout": 1, "masked_item_loss": 0}
    assert torch.allclose(gelu_block.intermediate_act_fn(x), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("value, expected", [(None, False), (False, False), (True, True)])
def test_fast_path_key(value, expected):
    assert fast_path_enabled({"fast_path": value}) is expected


def test_fast_path_key_must_be_a_bool():
    with pytest.raises(ValueError, match="'fast_path' is 'yes'"):
        fast_path_enabled({"fast_path": "yes"})


def test_bert4rec_scores_only_the_real_masked_slots(monkeypatch, tmp_path):
    """The fast loss computes logits for the slots with ``masked_index > 0`` and no others; its value
    is RecBole's (dropout off)."""
    from recbole_llmkd import fast_path

    config, _, train, _, _ = build("BERT4Rec", {"MAX_ITEM_LIST_LENGTH": 20, "user_inter_num_interval": "[0,40]",
                                                "train_batch_size": 64, "checkpoint_dir": str(tmp_path),
                                                "state": "WARNING"})
    init_seed(2020, True)
    stock = without_dropout(get_model("BERT4Rec")(config, train._dataset))
    fast = copy.deepcopy(stock)
    apply_fast_path(fast)
    init_seed(3, True)
    batch = next(iter(train))
    real = int((batch[stock.MASK_INDEX] > 0).sum())
    slots = batch[stock.MASK_INDEX].numel()
    assert 0 < real < slots  # the batch has padded slots to skip
    scored = []

    def spy(logits, target):
        scored.append(tuple(logits.shape))
        return F.cross_entropy(logits, target)

    monkeypatch.setattr(fast_path, "F", types.SimpleNamespace(cross_entropy=spy))
    fast_loss = fast.calculate_loss(batch)
    assert scored == [(real, stock.n_items)]
    assert fast_loss.item() == pytest.approx(stock.calculate_loss(batch).item(), rel=1e-6)
