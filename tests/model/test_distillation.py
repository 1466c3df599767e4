import math

import pytest
import torch

from recbole_llmkd.model.distillation import ProfileDistillation, combine_losses, profile_statistics

# One user, three positions, hidden size 2; the third position is padding with a garbage state.
HIDDEN = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, -100.0]]])
VALID = torch.tensor([[True, True, False]])


def head(aggregation="mean", loss="mse", gamma=0.1, profile_dim=2, hidden=2):
    module = ProfileDistillation(profile_dim, hidden, aggregation=aggregation, gamma=gamma, loss=loss)
    with torch.no_grad():  # T = identity, so the target is the profile itself
        module.profile_proj.weight.copy_(torch.eye(hidden, profile_dim))
        module.profile_proj.bias.zero_()
    return module


def test_mean_aggregation_ignores_padding():
    agg = head("mean").aggregate(HIDDEN, VALID)
    assert torch.allclose(agg, torch.tensor([[2.0, 3.0]]))
    other_padding = HIDDEN.clone()
    other_padding[0, 2] = torch.tensor([-7.0, 55.0])
    assert torch.equal(head("mean").aggregate(other_padding, VALID), agg)


def test_exponential_aggregation_weights_recent_positions_higher():
    # γ = ln 2: the last valid position weighs twice the one before: weights 1/3, 2/3
    agg = head("exponential", gamma=math.log(2)).aggregate(HIDDEN, VALID)
    assert torch.allclose(agg, torch.tensor([[1 / 3 * 1 + 2 / 3 * 3, 1 / 3 * 2 + 2 / 3 * 4]]))


def test_a_float32_safe_huge_gamma_pools_the_last_valid_position_only():
    # γ·(t − last) = -1e30 underflows exp() to 0 for every earlier position; the last one keeps weight 1
    agg = head("exponential", gamma=1e30).aggregate(HIDDEN, VALID)
    assert torch.equal(agg, torch.tensor([[3.0, 4.0]]))


@pytest.mark.parametrize("gamma", [2.0, 50.0])
def test_exponential_aggregation_of_a_short_row_in_a_long_batch_is_finite(gamma):
    # 2 valid positions of 50: exp(γ·(t − last)) at the padding would be exp(γ·48), inf in float32 for γ = 2
    hidden = torch.zeros(1, 50, 2)
    hidden[0, :2] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    valid = torch.zeros(1, 50, dtype=torch.bool)
    valid[0, :2] = True
    agg = head("exponential", gamma=gamma).aggregate(hidden, valid)
    w = 1 / (1 + math.exp(gamma))  # the first position's weight
    assert torch.allclose(agg, torch.tensor([[w * 1 + (1 - w) * 3, w * 2 + (1 - w) * 4]]))


def test_exponential_aggregation_with_gaps_uses_positions():
    # valid positions 0 and 2 (1 is masked): weights ∝ exp(γ·(t − 2)) = 1/4, 1 for γ = ln 2
    hidden = torch.tensor([[[4.0, 0.0], [50.0, 50.0], [0.0, 8.0], [9.0, 9.0]]])
    valid = torch.tensor([[True, False, True, False]])
    agg = head("exponential", gamma=math.log(2)).aggregate(hidden, valid)
    assert torch.allclose(agg, torch.tensor([[4.0 * 0.2, 8.0 * 0.8]]))


def test_attention_aggregation_softmax_over_valid_positions_only():
    module = head("attention")
    with torch.no_grad():
        module.attn_score.weight.copy_(torch.tensor([[1.0, 0.0]]))
        module.attn_score.bias.zero_()
    hidden = torch.tensor([[[0.0, 1.0], [math.log(3), 5.0], [1000.0, 7.0]]])
    agg = module.aggregate(hidden, VALID)  # scores 0 and ln 3 -> weights 1/4, 3/4; 1000 is padding
    assert torch.allclose(agg, torch.tensor([[0.75 * math.log(3), 0.25 * 1 + 0.75 * 5]]))


@pytest.mark.parametrize("aggregation", ["mean", "exponential", "attention"])
def test_row_without_valid_positions_aggregates_to_zero(aggregation):
    agg = head(aggregation).aggregate(HIDDEN, torch.zeros_like(VALID))
    assert torch.equal(agg, torch.zeros(1, 2))


@pytest.mark.parametrize(
    "loss, expected",
    # state (3, 2), target T(profile) = (0, 1): difference (3, 1)
    [("mse", 5.0), ("rmse", math.sqrt(5.0)), ("cosine", 1.0 - 2.0 / math.sqrt(13.0))],
)
def test_distil_loss_values(loss, expected):
    hidden = torch.tensor([[[3.0, 2.0], [0.0, 0.0]]])
    valid = torch.tensor([[True, False]])
    value, n = head(loss=loss).distil_loss(hidden, valid, torch.tensor([[0.0, 1.0]]))
    assert n == 1
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_users_without_profile_are_excluded_from_the_mean():
    hidden = torch.tensor([[[1.0, 1.0]], [[50.0, -50.0]], [[3.0, 3.0]]])
    valid = torch.ones(3, 1, dtype=torch.bool)
    profile = torch.tensor([[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]])  # user 2 has no profile
    value, n = head().distil_loss(hidden, valid, profile)
    assert n == 2
    assert value.item() == pytest.approx((0.0 + 4.0) / 2)  # user 1: 0, user 3: (2^2+2^2)/2 = 4


def test_batch_without_profiled_user_gives_zero_not_nan():
    hidden = torch.randn(2, 3, 2, requires_grad=True)
    value, n = head().distil_loss(hidden, torch.ones(2, 3, dtype=torch.bool), torch.zeros(2, 2))
    assert n == 0 and value.item() == 0.0
    rec = torch.tensor(5.0, requires_grad=True)
    total, beta = combine_losses(rec, value, alpha=0.4, dynamic_scale=True)
    assert beta.item() == 0.0
    assert total.item() == pytest.approx(0.6 * 5.0)
    assert not torch.isnan(total)


@pytest.mark.parametrize("loss", ["mse", "rmse", "cosine"])
def test_users_without_profile_get_no_gradient_and_no_nan(loss):
    hidden = torch.randn(3, 4, 2, requires_grad=True)
    valid = torch.tensor([[True] * 4, [True, True, False, False], [False] * 4])
    profile = torch.tensor([[1.0, 2.0], [0.0, 0.0], [3.0, 4.0]])  # user 3 has a profile but no valid position
    value, n = head(loss=loss).distil_loss(hidden, valid, profile)
    value.backward()
    assert int(n) == 1
    assert hidden.grad[0].abs().sum() > 0
    assert torch.equal(hidden.grad[1:], torch.zeros(2, 4, 2))
    empty, n_empty = head(loss=loss).distil_loss(hidden, valid, torch.zeros(3, 2))
    assert int(n_empty) == 0 and empty.item() == 0.0


def test_dynamic_beta_scales_distillation_to_rec_loss_and_is_not_differentiated():
    rec = torch.tensor(6.0, requires_grad=True)
    distil = torch.tensor(2.0, requires_grad=True)
    total, beta = combine_losses(rec, distil, alpha=0.4, dynamic_scale=True)
    assert beta.item() == pytest.approx(3.0)
    assert total.item() == pytest.approx(0.4 * 3.0 * 2.0 + 0.6 * 6.0)
    total.backward()
    assert rec.grad.item() == pytest.approx(0.6)  # β is a constant: no gradient through it
    assert distil.grad.item() == pytest.approx(0.4 * 3.0)


@pytest.mark.parametrize("beta_max, expected_beta", [(None, 3.0), (10.0, 3.0), (2.0, 2.0), (0.5, 0.5)])
def test_beta_cap_bounds_the_dynamic_scale(beta_max, expected_beta):
    rec = torch.tensor(6.0, requires_grad=True)
    distil = torch.tensor(2.0, requires_grad=True)
    total, beta = combine_losses(rec, distil, alpha=0.4, dynamic_scale=True, beta_max=beta_max)
    assert beta.item() == pytest.approx(expected_beta)
    total.backward()
    assert distil.grad.item() == pytest.approx(0.4 * expected_beta)
    assert rec.grad.item() == pytest.approx(0.6)


def test_static_combination():
    rec = torch.tensor(6.0, requires_grad=True)
    distil = torch.tensor(2.0, requires_grad=True)
    total, beta = combine_losses(rec, distil, alpha=0.25, dynamic_scale=False)
    assert beta.item() == 1.0
    assert total.item() == pytest.approx(0.25 * 2.0 + 0.75 * 6.0)


@pytest.mark.parametrize("key, kwargs", [("kd_aggregation", {"aggregation": "max"}), ("kd_loss", {"loss": "l1"})])
def test_unknown_choice_is_a_clear_error(key, kwargs):
    with pytest.raises(ValueError, match=key):
        ProfileDistillation(4, 4, **kwargs)


def regressor(loss="mse", stats=None, temperature=0.1, profile_dim=2, hidden=2):
    """hidden_to_profile with R = identity: the student is the pooled state itself."""
    module = ProfileDistillation(profile_dim, hidden, loss=loss, direction="hidden_to_profile",
                                 temperature=temperature, profile_stats=stats)
    with torch.no_grad():
        module.student_proj.weight.copy_(torch.eye(profile_dim, hidden))
        module.student_proj.bias.zero_()
    return module


def test_regressor_predicts_the_standardised_profile():
    # pooled (3, 2); profile (3, 5) standardised with mean (1, 1), std (2, 2) -> (1, 2): MSE = (2² + 0²) / 2
    hidden = torch.tensor([[[3.0, 2.0], [0.0, 0.0]]])
    valid = torch.tensor([[True, False]])
    stats = (torch.tensor([1.0, 1.0]), torch.tensor([2.0, 2.0]))
    value, n = regressor(stats=stats).distil_loss(hidden, valid, torch.tensor([[3.0, 5.0]]))
    assert int(n) == 1
    assert value.item() == pytest.approx(2.0)


def test_regressor_target_is_fixed_and_only_the_student_side_learns():
    module = regressor()
    hidden = torch.randn(4, 3, 2, requires_grad=True)
    profile = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])
    value, _ = module.distil_loss(hidden, torch.ones(4, 3, dtype=torch.bool), profile)
    value.backward()
    assert module.student_proj.weight.grad.abs().sum() > 0
    assert not hasattr(module, "profile_proj")
    assert [name for name, _ in module.named_buffers()] == ["profile_mean", "profile_std"]


E = math.e


@pytest.mark.parametrize("users, expected", [
    # rows 0 and 1 belong to user 7 and share the target e1: never each other's negative
    (torch.tensor([7, 7, 9]), (2 * (math.log(E + 1) - 1) + math.log(E + 2) - 1) / 3),
    # without user ids every other row is a negative
    (None, (2 * (math.log(2 * E + 1) - 1) + math.log(E + 2) - 1) / 3),
])
def test_infonce_values_and_same_user_rows_are_not_negatives(users, expected):
    # T = identity, τ = 1: logits are the cosines of e1, e1, e2 with the targets e1, e1, e2
    hidden = torch.tensor([[[1.0, 0.0]], [[1.0, 0.0]], [[0.0, 1.0]]])
    profile = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    module = head(loss="infonce")
    module.temperature = 1.0
    value, n = module.distil_loss(hidden, torch.ones(3, 1, dtype=torch.bool), profile, users)
    assert int(n) == 3
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_infonce_ignores_rows_without_profile_as_anchors_and_negatives():
    hidden = torch.tensor([[[1.0, 0.0]], [[1.0, 0.0]], [[0.0, 1.0]], [[0.0, 1.0]]], requires_grad=True)
    profile = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])  # row 3: no profile
    module = head(loss="infonce")
    module.temperature = 1.0
    value, n = module.distil_loss(hidden, torch.ones(4, 1, dtype=torch.bool), profile, torch.tensor([7, 7, 9, 5]))
    value.backward()
    assert int(n) == 3
    assert value.item() == pytest.approx((2 * (math.log(E + 1) - 1) + math.log(E + 2) - 1) / 3, rel=1e-6)
    assert torch.equal(hidden.grad[3], torch.zeros(1, 2))
    assert not torch.isnan(hidden.grad).any()


def test_infonce_temperature_sharpens_the_logits():
    # two users, orthogonal: with τ = 0.5 the logits are 2 and 0: loss = log(e² + 1) − 2 per row
    hidden = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])
    profile = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    module = head(loss="infonce")
    module.temperature = 0.5
    value, _ = module.distil_loss(hidden, torch.ones(2, 1, dtype=torch.bool), profile, torch.tensor([1, 2]))
    assert value.item() == pytest.approx(math.log(math.exp(2) + 1) - 2, rel=1e-6)


def test_frozen_projection_has_unit_gain_no_bias_and_no_gradient():
    torch.manual_seed(0)
    module = ProfileDistillation(256, 64, direction="profile_to_hidden", projection="frozen")
    module.reset_frozen_projection()
    weight = module.profile_proj.weight
    assert module.profile_proj.bias is None
    assert not weight.requires_grad
    assert weight.std().item() == pytest.approx(1 / 16, rel=0.05)  # 1 / sqrt(256)
    hidden = torch.randn(8, 5, 64, requires_grad=True)
    value, _ = module.distil_loss(hidden, torch.ones(8, 5, dtype=torch.bool), torch.randn(8, 256))
    value.backward()
    assert weight.grad is None and hidden.grad.abs().sum() > 0


def test_profile_statistics_skip_rows_without_profile_and_constant_dimensions():
    profiles = torch.tensor([[1.0, 5.0, 2.0], [0.0, 0.0, 0.0], [3.0, 5.0, 2.0]])
    mean, std = profile_statistics(profiles)
    assert mean.tolist() == [2.0, 5.0, 2.0]
    assert std.tolist() == [1.0, 1.0, 1.0]  # dims 2 and 3 have no spread: std 1, never a division by 0
    with pytest.raises(ValueError, match="no profiled user"):
        profile_statistics(torch.zeros(2, 3))


def test_spread_of_pooled_states_and_targets_over_profiled_rows():
    module = head()
    hidden = torch.tensor([[[1.0, 0.0]], [[3.0, 0.0]], [[100.0, 100.0]]])
    profile = torch.tensor([[1.0, 1.0], [1.0, 3.0], [0.0, 0.0]])  # row 3: no profile, not counted
    module.distil_loss(hidden, torch.ones(3, 1, dtype=torch.bool), profile)
    pooled, target = module.last_spread
    assert pooled.item() == pytest.approx((1.0 + 0.0) / 2)  # stds 1 and 0
    assert target.item() == pytest.approx((0.0 + 1.0) / 2)  # T = identity: stds 0 and 1


@pytest.mark.parametrize("key, kwargs", [
    ("kd_direction", {"direction": "both"}), ("kd_projection", {"projection": "fixed"}),
    ("kd_temperature", {"temperature": 0.0}), ("kd_temperature", {"temperature": -1.0}),
    ("kd_temperature", {"temperature": "abc"}), ("kd_temperature", {"temperature": float("nan")}),
    ("kd_gamma", {"gamma": -0.5}), ("kd_gamma", {"gamma": "x"}), ("kd_gamma", {"gamma": float("inf")}),
])
def test_bad_new_choices_are_clear_errors(key, kwargs):
    with pytest.raises(ValueError, match=key):
        ProfileDistillation(4, 4, **kwargs)
