"""``kd_*`` settings that would pass a type check and then silently change or kill training."""

import pytest

from recbole_llmkd.model import SASRecKD
from recbole_llmkd.trainer import KDTrainer


def test_one_epoch_with_the_default_kd_epochs_is_refused(build_data, tiny_config):
    config, _, train, *_ = build_data("SASRecKD", {**tiny_config, "epochs": 1, "kd_epochs": None})
    with pytest.raises(ValueError, match=r"config key 'kd_epochs' is ~ \(half of epochs\), which is 0 with "
                                         r"epochs=1: distillation would never run"):
        KDTrainer(config, SASRecKD(config, train._dataset))


def test_kd_epochs_zero_on_purpose_is_allowed(build_data, tiny_config):
    config, _, train, *_ = build_data("SASRecKD", {**tiny_config, "epochs": 1, "kd_epochs": 0})
    assert KDTrainer(config, SASRecKD(config, train._dataset)).kd_stage(0) == 2


@pytest.mark.parametrize("key, value, message", [
    ("kd_gamma", -0.5, r"config key 'kd_gamma' is -0.5; expected a number >= 0"),
    ("kd_gamma", "x", r"config key 'kd_gamma' is 'x'; expected a number"),
    ("kd_gamma", float("nan"), r"config key 'kd_gamma' is nan; expected a finite number"),
    ("kd_alpha", "abc", r"config key 'kd_alpha' is 'abc'; expected a number"),
    ("kd_beta_max", "abc", r"config key 'kd_beta_max' is 'abc'; expected a number"),
    ("kd_layer", "abc", r"config key 'kd_layer' is 'abc'; expected a whole number"),
    ("kd_layer", 1.7, r"config key 'kd_layer' is 1.7; expected a whole number"),
    ("kd_temperature", 0, r"config key 'kd_temperature' is 0; expected a positive number"),
    ("kd_dynamic_scale", "maybe", r"config key 'kd_dynamic_scale' is 'maybe'; expected True or False"),
    ("kd_standardize", 1, r"config key 'kd_standardize' is 1; expected True or False"),
    # values that pass "finite, >= 0 / > 0" but not what float32 computes: γ = 1e39 is inf in float32 and the
    # last position's weight inf·0 is NaN; 1/τ overflows (1e-50 is 0 in float32) or passes the masked logit
    ("kd_gamma", 1e39, r"config key 'kd_gamma' is 1e\+39; the exponential weights exp\(γ·\(t − last\)\) over 20 "
                       r"positions are not finite in float32 \(γ must be at most 3.4e\+38\)"),
    ("kd_temperature", 1e-50, r"config key 'kd_temperature' is 1e-50; 1/τ overflows float32, and the InfoNCE "
                              r"logits \(cosine / τ, float32\) need 1/τ <= 1e\+09: expected a number >= 1e-09"),
    ("kd_temperature", 1e-12, r"config key 'kd_temperature' is 1e-12; 1/τ is 1e\+12, .* expected a number >= 1e-09"),
])
def test_bad_numbers_name_the_key_before_training(build_data, tiny_config, key, value, message):
    config, _, train, *_ = build_data("SASRecKD", {**tiny_config, key: value, "kd_aggregation": "exponential"})
    with pytest.raises(ValueError, match=message):
        SASRecKD(config, train._dataset)


def test_reset_optimizer_must_be_a_boolean(build_data, tiny_config):
    config, _, train, *_ = build_data("SASRecKD", {**tiny_config, "kd_reset_optimizer": "no"})
    with pytest.raises(ValueError, match=r"config key 'kd_reset_optimizer' is 'no'; expected True or False"):
        KDTrainer(config, SASRecKD(config, train._dataset))


@pytest.mark.parametrize("dim", [0, "abc", 2.5])
def test_profile_dim_must_be_a_positive_whole_number(build_data, tiny_config, dim):
    with pytest.raises(ValueError, match=rf"config key 'kd_profile_dim' is {dim!r}; expected a whole number >= 1"):
        build_data("SASRecKD", {**tiny_config, "kd_profile_dim": dim})


@pytest.mark.parametrize("key, value", [("kd_gamma", 1e30), ("kd_temperature", 1e-6)])
def test_large_but_float32_safe_values_are_accepted(build_data, tiny_config, key, value):
    config, _, train, *_ = build_data("SASRecKD", {**tiny_config, key: value, "kd_aggregation": "exponential"})
    head = SASRecKD(config, train._dataset).kd_head
    assert (head.gamma, head.temperature) == ((value, 0.1) if key == "kd_gamma" else (0.1, value))
