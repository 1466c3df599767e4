"""SASRecKD and BERT4RecKD on real ml-100k batches: the loss, the single encoder pass, the serving
path and the stage-2 gradients."""

import pytest
import torch
from recbole.data.interaction import Interaction
from recbole.model.sequential_recommender.bert4rec import BERT4Rec
from recbole.model.sequential_recommender.sasrec import SASRec
from recbole.utils import init_seed

from recbole_llmkd.model import BERT4RecKD, SASRecKD
from tests.conftest import build

PARENTS = {"SASRecKD": (SASRecKD, SASRec), "BERT4RecKD": (BERT4RecKD, BERT4Rec)}


@pytest.fixture(scope="module", params=sorted(PARENTS))
def data(request, tmp_path_factory):
    profile_file = request.getfixturevalue("profile_file")
    config_dict = {
        "kd_profile_file": str(profile_file),
        "hidden_size": 16,
        "inner_size": 32,
        "MAX_ITEM_LIST_LENGTH": 20,
        "user_inter_num_interval": "[0,40]",
        "train_neg_sample_args": None,
        "train_batch_size": 64,
        "checkpoint_dir": str(tmp_path_factory.mktemp("saved")),
        "state": "WARNING",
    }
    config, dataset, train, valid, test = build(request.param, config_dict)
    return request.param, config, train, test


def make(data, **overrides):
    name, config, train, _ = data
    for key, value in overrides.items():
        config[key] = value
    kd_class, parent_class = PARENTS[name]
    init_seed(2020, True)
    model = kd_class(config, train._dataset)
    parent = parent_class(config, train._dataset)
    parent.load_state_dict(model.serving_state_dict(), strict=True)
    return model, parent


def train_batch(data):
    init_seed(7, True)  # BERT4Rec's masking is random: fix it
    return next(iter(data[2]))


@pytest.fixture(autouse=True)
def reset_config(data):
    config = data[1]
    saved = {k: config[k] for k in ("kd_alpha", "kd_dynamic_scale", "kd_layer", "kd_aggregation", "kd_loss", "kd_beta_max",
                                    "kd_direction", "kd_projection", "kd_standardize", "kd_temperature")}
    yield
    for key, value in saved.items():
        config[key] = value


def test_alpha_zero_gives_exactly_the_parent_loss(data):
    model, parent = make(data, kd_alpha=0.0)
    model.eval(), parent.eval()
    batch = train_batch(data)
    assert torch.equal(model.calculate_loss(batch), parent.calculate_loss(batch))


def test_stage_two_gives_exactly_the_parent_loss(data):
    model, parent = make(data, kd_alpha=0.4)
    model.eval(), parent.eval()
    model.set_distillation(False)
    batch = train_batch(data)
    assert torch.equal(model.calculate_loss(batch), parent.calculate_loss(batch))


@pytest.mark.parametrize("dynamic", [False, True], ids=["fixed_weight", "paper_dynamic_beta"])
def test_stage_one_combines_parent_loss_with_distillation(data, dynamic):
    model, parent = make(data, kd_alpha=0.4, kd_dynamic_scale=dynamic)
    model.eval(), parent.eval()
    batch = train_batch(data)
    parts = model.calculate_kd_loss(batch)
    assert torch.equal(parts.rec, parent.calculate_loss(batch))
    assert parts.distil.item() > 0
    if dynamic:  # β = L_rec / L_distil, so α·β·L_distil equals α·L_rec in value
        assert parts.beta.item() == pytest.approx(parts.rec.item() / parts.distil.item(), rel=1e-6)
        assert parts.total.item() == pytest.approx(0.4 * parts.rec.item() + 0.6 * parts.rec.item(), rel=1e-5)
    else:
        assert parts.beta.item() == 1.0
        assert parts.total.item() == pytest.approx(0.4 * parts.distil.item() + 0.6 * parts.rec.item(), rel=1e-6)
    has_profile = (batch[model.kd_profile_field] != 0).any(dim=-1)
    assert 0 < parts.n_profiled <= int(has_profile.sum())


def test_the_encoder_runs_once_per_loss(data):
    model, _ = make(data)
    calls = []
    model.trm_encoder.register_forward_hook(lambda *args: calls.append(1))
    model.calculate_loss(train_batch(data))
    assert len(calls) == 1


@pytest.mark.parametrize("kd_layer", [0, 1, -1])
def test_kd_layer_selects_the_block(data, kd_layer):
    model, _ = make(data, kd_layer=kd_layer, kd_alpha=0.4)
    model.eval()
    batch = train_batch(data)
    captured = []
    model.trm_encoder.register_forward_hook(lambda m, i, out: captured.append(out))
    parts = model.calculate_kd_loss(batch)
    args = (model.kd_valid_positions(batch), batch[model.kd_profile_field], batch[model.USER_ID])
    expected, _ = model.kd_head.distil_loss(captured[0][kd_layer], *args)
    assert torch.equal(parts.distil, expected)
    other = captured[0][(kd_layer + 1) % 2]
    assert not torch.equal(model.kd_head.distil_loss(other, *args)[0], expected)


def test_serving_is_the_parent_model(data):
    model, parent = make(data)
    model.eval(), parent.eval()
    interaction = next(iter(data[3]))[0]
    assert torch.equal(model.full_sort_predict(interaction), parent.full_sort_predict(interaction))
    extra = set(model.state_dict()) - set(parent.state_dict())
    assert extra and all(key.startswith("kd_head.") for key in extra)


@pytest.mark.parametrize("direction", ["hidden_to_profile", "profile_to_hidden"])
def test_stage_two_leaves_the_distillation_head_without_gradient(data, direction):
    model, _ = make(data, kd_direction=direction)
    batch = train_batch(data)
    model.calculate_loss(batch).backward()
    assert all(p.grad.abs().sum() > 0 for p in model.kd_head.parameters())
    model.zero_grad(set_to_none=True)
    model.set_distillation(False)
    model.calculate_loss(batch).backward()
    assert all(p.grad is None for p in model.kd_head.parameters())
    assert model.item_embedding.weight.grad is not None


@pytest.mark.parametrize("direction, layer, shape", [("profile_to_hidden", "profile_proj", (19, 16)),
                                                     ("hidden_to_profile", "student_proj", (16, 19))])
def test_profile_dim_comes_from_the_dataset(data, direction, layer, shape):
    model, _ = make(data, kd_direction=direction)
    proj = getattr(model.kd_head, layer)  # ml-100k has 19 genres; the tiny models' hidden size is 16
    assert (proj.in_features, proj.out_features) == shape


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("kd_aggregation", "max", "kd_aggregation"),
        ("kd_loss", "huber", "kd_loss"),
        ("kd_layer", 2, r"kd_layer.*\[-2, 1\]"),
        ("kd_alpha", 1.5, "kd_alpha"),
        ("kd_beta_max", 0, "kd_beta_max"),
        ("kd_beta_max", -3.0, "kd_beta_max"),
        ("kd_direction", "sideways", "kd_direction"),
        ("kd_projection", "fixed", "kd_projection"),
        ("kd_temperature", 0, "kd_temperature"),
        ("kd_standardize", "yes", "kd_standardize"),
        ("kd_alpha", "abc", "config key 'kd_alpha' is 'abc'; expected a number"),
        ("kd_beta_max", "abc", "config key 'kd_beta_max' is 'abc'; expected a number"),
        ("kd_layer", 1.7, "config key 'kd_layer' is 1.7; expected a whole number"),
        ("kd_layer", "abc", "config key 'kd_layer' is 'abc'; expected a whole number"),
    ],
)
def test_bad_settings_fail_at_construction(data, key, value, message):
    with pytest.raises(ValueError, match=message):
        make(data, **{key: value})


def test_bert4rec_valid_positions_skip_padding_and_mask(data):
    if data[0] != "BERT4RecKD":
        pytest.skip("BERT4Rec only")
    model, _ = make(data)
    mask = model.mask_token
    batch = Interaction({model.MASK_ITEM_SEQ: torch.tensor([[5, mask, 7, 0], [mask, 0, 0, 0]])})
    assert model.kd_valid_positions(batch).tolist() == [[True, False, True, False], [False] * 4]


def test_sasrec_valid_positions_skip_padding(data):
    if data[0] != "SASRecKD":
        pytest.skip("SASRec only")
    model, _ = make(data)
    batch = Interaction({model.ITEM_SEQ: torch.tensor([[5, 6, 7, 0], [3, 0, 0, 0]])})
    assert model.kd_valid_positions(batch).tolist() == [[True, True, True, False], [True, False, False, False]]


def test_standardisation_uses_the_profiled_users_of_the_dataset(data):
    model, parent = make(data, kd_standardize=True)
    profiles = data[2]._dataset.user_feat[model.kd_profile_field]
    present = profiles[(profiles != 0).any(dim=-1)]
    assert len(present) < len(profiles)  # every 10th user has no profile (conftest)
    assert torch.allclose(model.kd_head.profile_mean, present.mean(dim=0))
    std = present.std(dim=0, unbiased=False)
    assert torch.allclose(model.kd_head.profile_std, torch.where(std > 0, std, torch.ones_like(std)))
    assert "kd_head.profile_mean" not in model.serving_state_dict()  # the parent loaded strict=True in make()


@pytest.mark.parametrize("loss", ["mse", "cosine", "infonce"])
def test_regressor_direction_trains_the_encoder_and_the_regressor(data, loss):
    model, _ = make(data, kd_direction="hidden_to_profile", kd_loss=loss, kd_standardize=True, kd_alpha=0.5)
    batch = train_batch(data)
    parts = model.calculate_kd_loss(batch)
    assert parts.distil.item() > 0 and parts.pooled_spread.item() > 0 and parts.target_spread.item() > 0
    parts.total.backward()
    assert model.kd_head.student_proj.weight.grad.abs().sum() > 0
    assert model.trm_encoder.layer[0].multi_head_attention.query.weight.grad.abs().sum() > 0
    assert model.kd_head.student_proj.out_features == 19


def test_infonce_reads_the_user_of_each_row(data):
    model, _ = make(data, kd_loss="infonce")
    model.eval()
    batch = train_batch(data)
    users = batch[model.USER_ID]
    assert len(torch.unique(users)) < len(users)  # prefixes of one user share a batch
    captured = []
    model.trm_encoder.register_forward_hook(lambda m, i, out: captured.append(out))
    parts = model.calculate_kd_loss(batch)
    args = (captured[0][-1], model.kd_valid_positions(batch), batch[model.kd_profile_field])
    assert torch.equal(parts.distil, model.kd_head.distil_loss(*args, users)[0])
    assert not torch.equal(parts.distil, model.kd_head.distil_loss(*args)[0])


def test_frozen_projection_gets_no_gradient_in_the_model(data):
    model, _ = make(data, kd_direction="profile_to_hidden", kd_projection="frozen")
    model.calculate_loss(train_batch(data)).backward()
    assert model.kd_head.profile_proj.weight.grad is None
    assert model.kd_head.profile_proj.weight.std().item() == pytest.approx(19 ** -0.5, rel=0.25)
