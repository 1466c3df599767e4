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
